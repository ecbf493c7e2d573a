"""The serving commands of `lamina`: `serve` (model packages over HTTP) and `deploy` (their KServe manifests).
Arguments in, the library called, results printed; imports are lazy so `lamina --help` stays fast."""

from __future__ import annotations

from pathlib import Path


def cmd_serve(a) -> None:
    from lamina.common.errors import LaminaError
    from lamina.serve.app import ServeOptions
    from lamina.serve.runtime import DecodeLimits
    from lamina.serve.server import serve
    from lamina.serve.settings import allowed_hosts, serve_token

    if a.max_batch_size < 1 or a.max_latency_ms < 0 or a.max_body_mb <= 0 or a.max_queue < 1:
        raise LaminaError(
            "serve: --max-batch-size and --max-queue must be >= 1, --max-latency-ms >= 0, --max-body-mb > 0"
        )
    if min(a.max_image_pixels, a.max_audio_seconds, a.max_connections, a.header_timeout_s, a.body_timeout_s) <= 0:
        raise LaminaError(
            "serve: --max-image-pixels, --max-audio-seconds, --max-connections and the timeouts must be > 0"
        )
    token = serve_token(a.host, a.token, a.token_file, a.no_auth)
    options = ServeOptions(
        token=token,
        max_batch_size=a.max_batch_size,
        max_latency_ms=a.max_latency_ms,
        max_body_mb=a.max_body_mb,
        max_queue=a.max_queue,
        body_timeout_s=a.body_timeout_s,
        limits=DecodeLimits(a.max_image_pixels, a.max_audio_seconds),
        allowed_hosts=allowed_hosts(a.host, a.allowed_hosts),
        explain=a.explain,
    )
    models, versions = list(a.models), {}
    if any(m.startswith("models:/") for m in models):
        import tempfile

        from lamina.common.runtime import mlflow_tracking_uri
        from lamina.training.tracking import fetch_registered_model

        into = Path(tempfile.mkdtemp(prefix="lamina-registry-"))
        for i, spec in enumerate(models):
            if spec.startswith("models:/"):
                name, version, local = fetch_registered_model(spec, a.tracking_uri or mlflow_tracking_uri(), into)
                models[i] = f"{name}={local}"
                versions[models[i]] = version
    serve(
        models,
        host=a.host,
        port=a.port,
        options=options,
        threads=a.threads,
        versions=versions,
        header_timeout_s=a.header_timeout_s,
        max_connections=a.max_connections,
    )


def cmd_deploy(a) -> None:
    from lamina.common.package import find_package, read_meta
    from lamina.serve.kserve import service_name, write_manifests

    package = find_package(a.model)
    name = service_name(a.name or read_meta(package).get("name") or package.resolve().parent.name)
    output = Path(a.output) if a.output else Path("deploy") / name
    r = write_manifests(
        package, a.image, name, a.storage_uri or f"pvc://lamina-models/{name}", output, no_auth=a.no_auth
    )
    if a.json:
        from lamina.cli.main import _print_json  # the one rule for --json output (main imports this module first)

        _print_json(r)
        return
    print(f"wrote {r['servingruntime']} and {r['inferenceservice']}")
    print(
        f"serving {name} from {r['storage_uri']} on {r['image']}: {r['measured_memory_mib']} MiB measured; {r['auth']}"
    )
    print(f"kubectl apply -f {r['servingruntime']} -f {r['inferenceservice']}")
