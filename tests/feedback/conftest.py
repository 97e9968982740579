from tests.gateway.conftest import gateway, mf_version  # noqa: F401  (the live gateway fixtures)
