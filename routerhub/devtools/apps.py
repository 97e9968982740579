from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development tools: the simulated upstream, `runstack` (what `make run` starts), benchmarks and
    the traffic simulation. Nothing on the request path imports this package (an import-linter
    contract checks it)."""

    name = "routerhub.devtools"
    label = "devtools"
    verbose_name = "Development tools"
