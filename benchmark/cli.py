"""The ``emobench`` command line."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from benchmark import __version__

app = typer.Typer(help="emobench: benchmark speech emotion representations (SER and emotional TTS).",
                  no_args_is_help=True, add_completion=False)
corpus_app = typer.Typer(help="Build and inspect corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
server_app = typer.Typer(help="A tracking server: PostgreSQL + mlflow server (docs/scale-out.md).",
                         no_args_is_help=True)
app.add_typer(server_app, name="server")
workers_app = typer.Typer(help="Warm Ray workers kept on a cluster between runs (`run --warm`, docs/scale-out.md).",
                          no_args_is_help=True)
app.add_typer(workers_app, name="workers")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emobench {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")) -> None:
    """emobench command line."""


@corpus_app.command("build")
def corpus_build_cmd(
    size: Optional[int] = typer.Option(None, help="Utterances (default 3000)."),
    seed: Optional[int] = typer.Option(None, help="Seed (default 0); the same seed gives the same corpus."),
    imbalance: Optional[float] = typer.Option(None, help="Neutral count / count of each other emotion (default 3)."),
    difficulty: Optional[float] = typer.Option(None, help="0 (easy) .. 1 (hard), default 0.5."),
    languages: Optional[str] = typer.Option(None, help="Comma-separated, from en,de,fr,es,it,zh (default all)."),
    emotions: Optional[str] = typer.Option(None, help="Comma-separated (default neutral,happy,angry,sad; "
                                                      "fear, surprise also available)."),
    jobs: int = typer.Option(2, "--jobs", "-j", help="Parallel rendering processes."),
    root: Optional[Path] = typer.Option(None, help="Folder of builds (default $EMOBENCH_HOME/corpora/embedded)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Build the embedded SYNTHETIC corpus (eSpeak NG), or reuse the cached build of the same config."""
    from benchmark.corpora.embedded import build_corpus, make_config, read_build
    from benchmark.errors import EmobenchError
    from benchmark.manifest import summarize

    options = {k: v for k, v in dict(size=size, seed=seed, imbalance=imbalance, difficulty=difficulty,
                                     languages=languages, emotions=emotions).items() if v is not None}
    try:
        result = build_corpus(make_config(options), root=root, jobs=jobs, progress=progress)
        manifest = read_build(result.path)
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    how = "reused the cached build" if result.reused else f"built {result.rendered} utterances"
    typer.echo(f"embedded corpus (SYNTHETIC, eSpeak NG): {how} in {result.seconds:.1f} s at {result.path}")
    typer.echo(summarize(manifest).to_string(index=False))


def _parse_options(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` command-line options -> loader keyword arguments.

    Values stay strings (the loader's own validation coerces ``true``/``0.3``), except
    ``None``/``null`` (None) and ``[...]``/``{...}`` (read as YAML: lists and mappings)."""
    import yaml

    from benchmark.errors import ConfigError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE (e.g. --option classes=core4)")
        text = value.strip()
        if text.lower() in ("none", "null"):
            options[key.strip()] = None
        elif text[:1] in ("[", "{"):
            try:
                options[key.strip()] = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"--option {key.strip()}: {text!r} is not a valid YAML list or mapping "
                                  f"({exc})") from None
        else:
            options[key.strip()] = text
    return options


@corpus_app.command("info")
def corpus_info_cmd(
    name: str = typer.Argument("embedded", help="Corpus name (embedded, iemocap, emodb, csv, emobox, ...)."),
    root: Optional[Path] = typer.Option(None, help="Corpus directory (for embedded: the folder of builds)."),
    option: list[str] = typer.Option([], "--option", "-o", help="A loader option KEY=VALUE, as in the Python API "
                                     "(repeatable): classes=core4, on_error=skip, language=en, "
                                     "demographics=None, label_map={W: angry}."),
    show_excluded: bool = typer.Option(False, "--show-excluded", help="List every entry left out, and why."),
) -> None:
    """Utterances, hours, speakers, languages and emotion counts per corpus (embedded: every cached build)."""
    from benchmark.errors import EmobenchError

    try:
        options = _parse_options(option)
        if name == "embedded":
            if options:
                typer.echo("error: --option applies to the real-corpus loaders; `corpus info` lists every cached "
                           "embedded build (`corpus build` makes one)", err=True)
                raise typer.Exit(code=2)
            table, report = _embedded_info(root), None
        else:
            from benchmark.corpora import load_corpus
            from benchmark.manifest import summarize

            manifest, report = load_corpus(name, root, **options)
            table = summarize(manifest)
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(table.to_string(index=False))
    if report is not None and len(report):
        if show_excluded:
            typer.echo(f"\n{len(report)} entries left out:")
            typer.echo(report.to_frame().to_string(index=False))
        else:
            typer.echo(f"{len(report)} entries left out (--show-excluded lists them)", err=True)


def _embedded_info(root: Optional[Path]):
    import pandas as pd

    from benchmark.corpora.embedded import list_builds, read_build
    from benchmark.manifest import summarize

    builds = list_builds(root)
    if not builds:
        typer.echo("no embedded corpus built yet; run `emobench corpus build`", err=True)
        raise typer.Exit(code=1)
    tables = []
    for path in builds:
        table = summarize(read_build(path))
        table["corpus"] = f"embedded/{path.name} (SYNTHETIC)"
        tables.append(table)
    return pd.concat(tables, ignore_index=True).fillna(0)


@app.command("run")
def run_cmd(
    suite: str = typer.Argument("default", help="Shipped suite name (smoke, default, full) or a YAML path."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Parallel processes (default: the suite's n_jobs)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: the suite's, "
                                                          "sqlite:///mlflow.db)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    publish: bool = typer.Option(True, "--publish/--no-publish",
                                 help="Afterwards write the suite's leaderboards and its report."),
    publish_dir: Optional[Path] = typer.Option(None, "--publish-dir",
                                               help="Folder for the leaderboards (one sub-folder each; default "
                                                    "reports/out/<suite>/leaderboards, which git ignores)."),
    update_snapshots: bool = typer.Option(False, "--update-snapshots",
                                          help="Write the leaderboards next to their definitions instead (the "
                                               "committed leaderboards/<name>/ snapshots)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local (this machine, --jobs processes) or "
                                           "ray (a Ray cluster); default: the suite's `executor`, else local."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: the suite's, "
                                          "else $RAY_ADDRESS, else a new single-node Ray)."),
    warm: Optional[bool] = typer.Option(None, "--warm/--no-warm", help="ray, on an existing cluster: run the jobs "
                                        "on warm workers that stay for the next run (release them with `emobench "
                                        "workers release`); default: the suite's `executor.warm`, else off."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (`emobench plan`) and train nothing."),
) -> None:
    """Run a suite: train and score every missing grid cell, record it in MLflow, then publish."""
    from benchmark.errors import EmobenchError
    from benchmark.report import DEFAULT_OUT
    from benchmark.runner import Terminated, run_suite
    from benchmark.suite import load_suite

    if publish_dir is not None and update_snapshots:
        typer.echo("error: give --publish-dir or --update-snapshots, not both", err=True)
        raise typer.Exit(code=2)
    if dry_run:
        plan_cmd(suite, tracking_uri)
        return
    try:
        config = load_suite(suite)
        if warm and (executor or config.executor.name) != "ray":
            raise EmobenchError("--warm keeps Ray workers on a cluster: it needs --executor ray (and --address)")
        uri = tracking_uri or config.tracking.uri
        summary = run_suite(config, n_jobs=jobs, progress=progress, tracking_uri=uri, executor=executor,
                            address=address, warm=warm)
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except Terminated as exc:  # SIGTERM: the open runs are marked FAILED; exit as a terminated process does
        typer.echo(f"error: {exc}; the open runs are marked FAILED (a re-run resumes)", err=True)
        raise typer.Exit(code=128 + 15) from None
    boards_dir = None if update_snapshots else (publish_dir or DEFAULT_OUT / config.name / "leaderboards")
    others = f", {summary.elsewhere} done by another run" if summary.elsewhere else ""
    retried = f", {len(summary.retried)} retried after their worker died" if summary.retried else ""
    typer.echo(f"suite {config.name}: {summary.total} cells; {summary.skipped} already finished, "
               f"{summary.ran} ran, {len(summary.failed)} failed{others}{retried} "
               f"(MLflow experiment {config.experiment_name}, {uri})")
    if summary.failed:
        typer.echo("failed cells (see the runs' emobench.error tag):\n  " + "\n  ".join(summary.failed), err=True)
        raise typer.Exit(code=1)
    if publish:
        from benchmark.publish import publish_if_changed

        published = publish_if_changed(config.name, uri, changed=summary.ran > 0, progress=progress,
                                       n_jobs=jobs or config.n_jobs, boards_dir=boards_dir)
        if published is None:
            typer.echo("nothing new since the last publish: the leaderboards and the report are up to date "
                       "(`emobench leaderboard NAME` / `emobench report` rebuild them)")
        else:
            for message, ok in published.messages:
                typer.echo(message, err=not ok)
            summary.stage_seconds["publish"] = published.seconds
            if summary.parent_run_id:
                from benchmark import tracking
                from benchmark.runner import log_stage_seconds

                log_stage_seconds(tracking.configure(uri), summary.parent_run_id, {"publish": published.seconds})
    if summary.stage_seconds:
        typer.echo("stage wall times: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.stage_seconds.items()))


@app.command("plan")
def plan_cmd(
    suite: str = typer.Argument("default", help="Shipped suite name (smoke, default, full) or a YAML path."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: the suite's)."),
) -> None:
    """What a run would do, training nothing: cells by protocol and method, how many are FINISHED, the training
    groups, and estimated fit times from the store's past runs (to size a cluster)."""
    from benchmark.errors import EmobenchError
    from benchmark.plan import format_plan, make_plan
    from benchmark.suite import load_suite

    try:
        typer.echo(format_plan(make_plan(load_suite(suite), tracking_uri)))
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _connect_ray(address: Optional[str]) -> None:
    """Join the Ray cluster at ``address`` (else $RAY_ADDRESS, else the one running on this machine)."""
    import importlib.util
    import logging

    if importlib.util.find_spec("ray") is None:
        typer.echo("error: the `ray` package is not installed (pip install 'ray>=2.9')", err=True)
        raise typer.Exit(code=2)
    import ray

    if ray.is_initialized():  # called from a process already on a cluster (a test, a notebook)
        return
    try:
        ray.init(address=address or "auto", log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        typer.echo(f"error: no Ray cluster at {address or 'auto'}: {exc}", err=True)
        raise typer.Exit(code=2) from None


ADDRESS_HELP = "Ray cluster address (default: $RAY_ADDRESS, else the cluster running on this machine)."


@workers_app.command("list")
def workers_list_cmd(address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP)) -> None:
    """The warm workers on the cluster: name (code fingerprint, CPUs, GPUs), node, jobs run, idle seconds."""
    import ray

    from benchmark.executors.warm import NAMESPACE, named_workers

    _connect_ray(address)
    names = named_workers()
    for name in names:
        try:
            info: dict = ray.get(  # type: ignore[assignment]
                ray.get_actor(name, namespace=NAMESPACE).info.remote(taken=False), timeout=5)
        except Exception as exc:  # noqa: BLE001  (starting, busy with a long job, or dying: say so)
            typer.echo(f"{name}  ({type(exc).__name__}: busy or not answering)")
            continue
        typer.echo(f"{name}  host {info['host']} pid {info['pid']}  {info['jobs']} jobs, idle {info['idle_s']:.0f} s")
    typer.echo(f"{len(names)} warm worker(s)")


@workers_app.command("release")
def workers_release_cmd(address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP)) -> None:
    """End every warm worker on the cluster (a job running on one fails, as if its worker died)."""
    from benchmark.executors.warm import kill_workers, named_workers

    _connect_ray(address)
    typer.echo(f"released {kill_workers(named_workers())} warm worker(s)")


@server_app.command("start")
def server_start_cmd(
    root: Optional[Path] = typer.Option(None, "--dir", help="Folder of the server's data (PostgreSQL cluster, "
                                        "artifacts, logs); default $EMOBENCH_HOME/server. Kept across restarts."),
    host: str = typer.Option("127.0.0.1", help="Address both servers listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(5000, help="mlflow server's port (0: a free one)."),
    pg_port: int = typer.Option(0, help="PostgreSQL's port (0: a free one)."),
    artifacts: Optional[str] = typer.Option(None, help="--artifacts-destination: a folder or s3://bucket/prefix "
                                            "(default DIR/artifacts)."),
    workers: int = typer.Option(2, help="mlflow server worker processes."),
) -> None:
    """Start PostgreSQL and `mlflow server` (PostgreSQL backend store, proxied artifacts) in the background.

    Credentials: EMOBENCH_PG_USER (default emobench) and EMOBENCH_PG_PASSWORD (required: the cluster keeps it)."""
    from benchmark.errors import EmobenchError
    from benchmark.paths import emobench_home
    from benchmark.tracking_server import TrackingServer

    import os

    if not os.environ.get("EMOBENCH_PG_PASSWORD"):
        typer.echo("error: set EMOBENCH_PG_PASSWORD (the PostgreSQL password of the server's database user)",
                   err=True)
        raise typer.Exit(code=2)
    server = TrackingServer(root or emobench_home() / "server", host=host, port=port, pg_port=pg_port,
                            artifacts=artifacts, workers=workers)
    try:
        server.start()
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"tracking server: {server.uri} (backend {server.backend_uri(with_password=False)}, artifacts "
               f"{artifacts or server.root / 'artifacts'}); use --tracking-uri {server.uri}; "
               f"stop with `emobench server stop --dir {server.root}`")


@server_app.command("status")
def server_status_cmd(root: Optional[Path] = typer.Option(None, "--dir", help="The server's folder.")) -> None:
    """Whether the tracking server of DIR answers (exit 1 if not)."""
    from benchmark.paths import emobench_home
    from benchmark.tracking_server import TrackingServer

    server = TrackingServer(root or emobench_home() / "server")
    if not server.running():
        typer.echo(f"no tracking server is answering from {server.root}")
        raise typer.Exit(code=1)
    state = server.read_state()
    typer.echo(f"tracking server {state['uri']} is up (backend {state['backend']}, artifacts {state['artifacts']})")


@server_app.command("stop")
def server_stop_cmd(root: Optional[Path] = typer.Option(None, "--dir", help="The server's folder.")) -> None:
    """Stop the tracking server of DIR (mlflow server, then PostgreSQL); the data stays."""
    from benchmark.errors import EmobenchError
    from benchmark.paths import emobench_home
    from benchmark.tracking_server import TrackingServer

    server = TrackingServer(root or emobench_home() / "server")
    try:
        server.stop()
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"tracking server of {server.root} stopped")


@app.command("score-tts")
def score_tts_cmd(
    manifest: Path = typer.Argument(..., help="CSV/JSONL: wav, text, emotion[, reference][, language][, utt_id]."),
    out: Path = typer.Option(Path("tts_scores"), "--out", help="Output folder for the tables."),
    asr_backend: str = typer.Option("openai-whisper", help="openai-whisper or faster-whisper."),
    asr_model: str = typer.Option("small", help="Model name already on disk, or a local checkpoint path/dir."),
    beam_size: int = typer.Option(5, help="ASR beam size (temperature 0, no fallback)."),
    asr: bool = typer.Option(True, "--asr/--no-asr", help="Compute WER/CER (needs ASR weights on disk)."),
    mcd_preset: str = typer.Option("default", help="MCD preset: default, espnet, versa, pymcd, pymcd_plain, "
                                                   "pymcd_dtw_sl."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad rows (written to skipped_rows.csv) "
                                                            "instead of failing."),
    mlflow: bool = typer.Option(True, "--mlflow/--no-mlflow", help="Log a run to MLflow experiment tts-scoring."),
    judge: Optional[Path] = typer.Option(None, "--judge", help="Emotion accuracy by a judge: a saved judge folder, "
                                         "or a ground-truth corpus manifest (CSV/Parquet) to train one on (it is "
                                         "saved to OUT/judge for the next run)."),
    judge_feature: str = typer.Option("functionals", help="Features of a judge trained from a manifest."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=0, help="Processes for the per-utterance analyses (MCD, "
                                                           "prosody); 0: one per core. Same results for any N."),
    metric: list[str] = typer.Option([], "--metric", "-m", help="Also run this registered TTS scorer (repeatable): "
                                     "speaker_similarity, mos, emotion_similarity (needs --judge), ..."),
    setting: list[str] = typer.Option([], "--setting", help="A scorer setting, SCORER.KEY=VALUE (YAML value; "
                                      "repeatable), e.g. speaker_similarity.trim_silence=false."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Score a TTS system's outputs: WER/CER, MCD, F0 RMSE/correlation, duration ratio; emotion accuracy
    with --judge; speaker similarity, predicted MOS, emotion similarity with --metric."""
    from benchmark.errors import EmobenchError
    from benchmark.tts.asr import AsrSettings
    from benchmark.tts.judge import load_or_train_judge
    from benchmark.tts.mcd import mcd_settings
    from benchmark.tts.scoring import ScoringConfig, score_tts

    try:
        config = ScoringConfig(asr=AsrSettings(backend=asr_backend, model=asr_model, beam_size=beam_size)
                               if asr else None, mcd=mcd_settings(mcd_preset),
                               settings=_scorer_settings(setting)).with_scorers(*metric)
        emotion_judge = None
        if judge is not None:
            emotion_judge = load_or_train_judge(judge, judge_feature, progress=progress)
            if not judge.is_dir():
                emotion_judge.save(out / "judge")
        result = score_tts(manifest, out, config, judge=emotion_judge,
                           judge_info=emotion_judge.info if emotion_judge is not None else None,
                           skip_bad=skip_bad, log_mlflow=mlflow, progress=progress, jobs=jobs)
    except (EmobenchError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(result.files["summary_md"].read_text())
    if len(result.skipped):
        typer.echo(f"skipped {len(result.skipped)} bad row(s) (--skip-bad; listed in {result.files['skipped_rows']}):\n"
                   + "\n".join(f"  - {entry}: {reason}" for entry, reason in result.skipped.skipped), err=True)
    typer.echo(f"tables written to {out}" + (f"; MLflow run {result.run_id}" if result.run_id else ""))


def _scorer_settings(items: list[str]) -> dict[str, dict[str, object]]:
    """``SCORER.KEY=VALUE`` options as {scorer: {key: value}} (values read as YAML: true, 3, 0.5, text)."""
    import yaml

    from benchmark.errors import ConfigError

    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        scorer, dot, name = key.partition(".")
        if not sep or not dot or not scorer or not name:
            raise ConfigError(f"--setting {item!r}: expected SCORER.KEY=VALUE, e.g. mos.batch_size=4")
        out.setdefault(scorer, {})[name] = yaml.safe_load(value)
    return out


@app.command("report")
def report_cmd(
    suite: str = typer.Argument("default", help="Suite name (smoke, default, full, or any run suite) or its YAML."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: the suite's, "
                                                          "sqlite:///mlflow.db)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default reports/out/<suite>)."),
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples for the confidence intervals."),
    projection: str = typer.Option("auto", help="Embedding projection: auto (t-SNE when small, else PCA), "
                                                "pca or tsne."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Write the self-contained HTML report and the LaTeX folder (tables + PDF figures) of a suite."""
    from benchmark.errors import EmobenchError
    from benchmark.report import build_report, resolve_suite

    try:
        name, uri = resolve_suite(suite, tracking_uri)
        result = build_report(name, uri, out, n_bootstrap=bootstrap, projection=projection, progress=progress)
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"report of suite {name}: {result.html} ({len(result.files['figures'])} figures, "
               f"{len(result.files['tables'])} tables); LaTeX in {result.latex}")


@app.command("leaderboard")
def leaderboard_cmd(
    name: str = typer.Argument(..., help="Leaderboard name (leaderboards/<name>.yaml) or a definition YAML path."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: the suite's, "
                                                          "sqlite:///mlflow.db)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default leaderboards/<name>/)."),
    model_index: Optional[str] = typer.Option(None, "--model-index", help="Also print (and write) the Hugging Face "
                                                                          "model-index block of this method."),
    readme: Optional[Path] = typer.Option(None, "--readme", help="Also write the Markdown table into this file, "
                                                                  "between <!-- leaderboard:NAME --> and "
                                                                  "<!-- /leaderboard:NAME -->."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Rank methods from their predictions tables; write Markdown, CSV, HTML and LaTeX."""
    from benchmark import leaderboard as lb
    from benchmark.errors import EmobenchError

    try:
        board = lb.build_leaderboard(lb.load_definition(name), tracking_uri, progress=progress)
        out = out if out is not None else lb.definition_path(name).parent / board.definition.name
        files = lb.write(board, out)
        markdown = lb.to_markdown(board) if isinstance(board, lb.Leaderboard) else board.to_markdown()
        if model_index and not isinstance(board, lb.Leaderboard):
            raise EmobenchError(f"--model-index: leaderboard {board.definition.name} lists claims, not methods")
        block = lb.model_index_yaml(board, model_index) if model_index else None
        if readme is not None:
            lb.embed_in_markdown(readme, board.definition.name, markdown)
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(markdown)
    typer.echo(f"written: {', '.join(str(p) for p in files.values())}")
    if block is not None:
        path = out / f"model-index-{model_index}.yaml"
        path.write_text(block, encoding="utf-8")
        typer.echo(f"\n{block}\n(written to {path})")


@app.command("claims")
def claims_cmd(
    suite: str = typer.Argument("default", help="Suite name (smoke, default, ablations, ...) or its YAML."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: the suite's, "
                                                          "sqlite:///mlflow.db)."),
    claim: Optional[list[str]] = typer.Option(None, "--claim", help="A claim id or YAML path (repeatable; "
                                                                    "default: every shipped claim)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the claims board (md, csv, html, tex, "
                                                           "snapshot.json) into this folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Test the papers' claims on a suite's records: supported / contradicted / inconclusive, with effect,
    95% CI, p and the minimum detectable effect."""
    from benchmark.claims.board import ClaimsBoardDef, build_claims_board
    from benchmark.claims.spec import load_claims
    from benchmark.errors import EmobenchError
    from benchmark.report import resolve_suite

    try:
        name, uri = resolve_suite(suite, tracking_uri)
        names = list(claim) if claim else "all"
        load_claims(names)
        definition = ClaimsBoardDef(name="claims", suite=name, claims=names)
        board = build_claims_board(definition, uri, progress=progress)
        files = board.write(out) if out is not None else {}
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(board.to_markdown())
    if files:
        typer.echo(f"written: {', '.join(str(p) for p in files.values())}")


@app.command("compare")
def compare_cmd(
    baseline: str = typer.Argument(..., help="Suite run id, cell run id, suite:<name> (its latest cells), "
                                             "models:/<name>/<version>, or a leaderboard snapshot (directory or "
                                             "leaderboard.csv)."),
    candidate: str = typer.Argument(..., help="The same kinds as BASELINE."),
    config: Optional[Path] = typer.Option(None, "--config", help="Gate config YAML (metrics and max drops, alpha, "
                                                                 "test); default: UA may drop 1 point."),
    tracking_uri: str = typer.Option("sqlite:///mlflow.db", help="MLflow tracking URI of both sides."),
    candidate_tracking_uri: Optional[str] = typer.Option(None, help="The candidate's tracking URI, when it is "
                                                                    "another store."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the verdict (Markdown) to this file."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Regression gate: exit 1 on a significant drop beyond a threshold, 0 otherwise, 2 on bad input."""
    from benchmark.compare import compare, load_gate
    from benchmark.errors import EmobenchError

    try:
        verdict = compare(baseline, candidate, load_gate(config), tracking_uri=tracking_uri,
                          candidate_tracking_uri=candidate_tracking_uri, progress=progress)
    except EmobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(verdict.markdown)
    if out is not None:
        out.write_text(verdict.markdown, encoding="utf-8")
    raise typer.Exit(code=verdict.exit_code)


if __name__ == "__main__":
    app()
