from infra.migrate.cli import main

raise SystemExit(main())
