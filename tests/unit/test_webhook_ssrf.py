"""The SSRF guard's address rules. DNS answers come from a resolver function given to ``check`` (the way DNS
rebinding presents itself: the name says one thing, the addresses another); no network here."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from oncall.adapters.ssrf import Allowlist, Refused, check

NONE = Allowlist()


def answers(*addresses: str) -> object:
    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/hook",
        "http://10.0.0.1/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://224.0.0.1/",
    ],
)
def test_literal_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        check(url, NONE, answers("93.184.216.34"))  # type: ignore[arg-type]


@pytest.mark.parametrize("internal", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fc00::1"])
def test_a_public_name_resolving_inside_is_refused(internal: str) -> None:
    with pytest.raises(Refused, match="resolves to"):
        check("https://hooks.example.com/x", NONE, answers(internal))  # type: ignore[arg-type]


def test_one_internal_answer_among_public_ones_refuses_the_name() -> None:
    with pytest.raises(Refused):
        check("https://hooks.example.com/x", NONE, answers("93.184.216.34", "10.0.0.7"))  # type: ignore[arg-type]


def test_a_public_name_is_accepted_and_pinned_to_the_checked_address() -> None:
    target = check("https://hooks.example.com:8443/in?x=1", NONE, answers("93.184.216.34"))  # type: ignore[arg-type]
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https",
        "hooks.example.com",
        8443,
        "/in?x=1",
        "93.184.216.34",
    )
    assert target.host_header == "hooks.example.com:8443"


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "https://user:pw@example.com/", "http:///nohost"]
)
def test_schemes_credentials_and_hostless_urls_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        check(url, NONE, answers("93.184.216.34"))  # type: ignore[arg-type]


def test_unresolvable_names_are_refused() -> None:
    def fails(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    with pytest.raises(Refused, match="does not resolve"):
        check("https://nowhere.invalid/", NONE, fails)


def test_allowlist_by_cidr_and_by_name() -> None:
    allow = Allowlist.parse("127.0.0.1/32, receiver.test ,10.9.0.0/16")
    assert check("http://127.0.0.1:9000/h", allow, answers()).address == "127.0.0.1"  # type: ignore[arg-type]
    assert check("http://receiver.test/h", allow, answers("192.168.7.7")).address == "192.168.7.7"  # type: ignore[arg-type]
    assert check("http://x.test/h", allow, answers("10.9.1.1")).address == "10.9.1.1"  # type: ignore[arg-type]
    # still refused: loopback outside the allow-listed /32, and the metadata service
    with pytest.raises(Refused):
        check("http://127.0.0.2/h", allow, answers())  # type: ignore[arg-type]
    with pytest.raises(Refused):
        check("http://169.254.169.254/", allow, answers())  # type: ignore[arg-type]
