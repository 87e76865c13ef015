"""One powertools ``Router`` per resource; ``handler.py`` includes them."""
