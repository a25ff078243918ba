"""`reactions worker`: a Celery worker for the tasks `reactions run` sends (needs a broker)."""

import argparse

HELP = "run a worker for the scheduler's tasks (needs REACTIONS_BROKER_URL, e.g. Redis)"


def add_arguments(parser) -> None:
    parser.add_argument("--concurrency", type=int, default=2,
                        help="tasks run at once in this worker, in threads (default 2)")
    parser.add_argument("--torch-threads", type=int,
                        help="threads the stance model may use (default: torch's own choice)")
    parser.add_argument("--name", help="worker name (default: reactions@HOST-PID)")
    parser.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True,
                        help="load the stance model before taking tasks (default); with "
                        "--no-preload it loads on first use, and a stop during that load "
                        "waits for it")


def run(args) -> int:
    import logging
    import os
    import socket
    import sys
    import threading

    from reactions.config import get_settings
    from reactions.schedule import GRACE
    from reactions.worker import safe_broker_url

    settings = get_settings()
    if not settings.broker_url:
        raise ValueError("no broker configured: set REACTIONS_BROKER_URL (e.g. "
                         "redis://127.0.0.1:6379/0) for `reactions worker` and `reactions run`")
    if args.concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    if args.torch_threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.torch_threads)
        os.environ["REACTIONS_WORKER_TORCH_THREADS"] = str(args.torch_threads)
    logging.getLogger("reactions").setLevel(logging.INFO)
    # Celery logs at INFO from the root; httpx would log every URL with its query, and
    # some APIs take their key in the query (YouTube).
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from celery.signals import worker_ready, worker_shutting_down

    from reactions.commands._common import open_store
    from reactions.heartbeat import WORKER, Heartbeat
    from reactions.leases import close_interrupted_runs
    from reactions.worker.app import configure_from_settings
    from reactions.worker.tasks import STOP

    store = open_store(settings)
    close_interrupted_runs(store)  # migrates the store first, once
    app = configure_from_settings(settings)
    name = args.name or f"reactions@{socket.gethostname()}-{os.getpid()}"
    # Tells the Health page this worker is alive; a clean stop marks it stopped.
    heartbeat = Heartbeat(store, WORKER, name)

    @worker_shutting_down.connect(weak=False)
    def _stopping(**_kwargs) -> None:
        # Celery's warm shutdown waits for tasks in flight: make them end after their page,
        # and exit anyway if one is stuck (its task is delivered again, its run closed).
        STOP.set()
        heartbeat.stop()

        def _give_up() -> None:
            sys.stderr.write(f"worker: tasks still running {GRACE:.0f}s after the stop; "
                             "exiting without them\n")
            sys.stderr.flush()
            os._exit(0)

        timer = threading.Timer(GRACE, _give_up)
        timer.daemon = True
        timer.start()

    if args.preload:
        from reactions.worker.tasks import classifier

        classifier()
        print("worker: stance model loaded", flush=True)
    print(f"worker {name}: broker {safe_broker_url(settings.broker_url)}; Ctrl-C to stop",
          flush=True)
    @worker_ready.connect(weak=False)
    def _ready(**_kwargs) -> None:
        heartbeat.start()  # alive once it takes tasks (and its own SIGTERM handler is set)

    try:
        app.worker_main(["worker", "--pool=threads", f"--concurrency={args.concurrency}",
                         "--loglevel=INFO", "--without-gossip", "--without-mingle",
                         "--hostname", name, "--queues", settings.broker_queue])
    finally:
        heartbeat.stop()
    return 0
