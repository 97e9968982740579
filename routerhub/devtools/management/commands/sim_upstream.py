from django.core.management.base import BaseCommand, CommandError

from routerhub.devtools.simupstream import SimConfig, load_responses, make_server, prompt_key


class Command(BaseCommand):
    help = "Run the simulated OpenAI-compatible upstream (demo and tests only; RouterHub calls it over HTTP)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--latency-ms", type=float, default=0.0, help="Delay before each answer.")
        parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="Delay between streamed chunks.")
        parser.add_argument("--failure-rate", type=float, default=0.0, help="Share of calls answered with an error.")
        parser.add_argument("--fail-model", action="append", default=[], help="Model that always fails (repeatable).")
        parser.add_argument("--fail-status", type=int, default=500)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--responses", action="append", default=[],
                            help="Score-table JSONL whose recorded `responses` are replayed (repeatable).")

    def handle(self, *args, **opts):
        if not 0.0 <= opts["failure_rate"] <= 1.0:
            raise CommandError("--failure-rate must be in [0, 1]", returncode=2)
        config = SimConfig(latency_ms=opts["latency_ms"], chunk_delay_ms=opts["chunk_delay_ms"],
                           failure_rate=opts["failure_rate"], fail_models=opts["fail_model"],
                           fail_status=opts["fail_status"], seed=opts["seed"])
        try:
            server = make_server(opts["host"], opts["port"], config)
        except OSError as exc:
            raise CommandError(f"cannot listen on {opts['host']}:{opts['port']}: {exc}") from exc
        for path in opts["responses"]:
            try:
                rows = load_responses(path)
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"cannot read responses from {path}: {exc}", returncode=2) from exc
            for row in rows:
                server.state.responses[(row["model"], prompt_key(row["prompt"]))] = row["text"]
            self.stdout.write(f"loaded {len(rows)} recorded responses from {path}")
        self.stdout.write(f"simulated upstream on http://{opts['host']}:{opts['port']}/v1", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
