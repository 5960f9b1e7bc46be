"""Run a w2v-dist pipeline on a SLURM cluster through dask-jobqueue.

    pip install "w2v-dist[slurm,s3]"            # on the login node, in a shared environment
    python cluster/slurm.py pipelines/real-en.toml --jobs 4 --cores 16 --memory 32GB \\
        --queue normal --account myproject --walltime 04:00:00
    python cluster/slurm.py pipelines/real-en.toml --print-script   # the sbatch script, nothing submitted

Each SLURM job is one machine running one Dask worker with ``--cores`` threads: the threads of a
worker share one replica (Hogwild), and replicas on different machines are merged every
``sync_every`` words, which is the shape w2v-dist wants (one worker per machine).  The scheduler
runs in this process (on the login node); this script stays attached, shows progress, and writes
the pipeline's outputs.  The workers must see the same Python environment (a venv on a shared
file system, activated by ``--prologue``) and must reach the inputs (shared paths or an object
store; storage options travel with the tasks).

To reuse the workers for several pipelines, pass ``--serve``: the script prints the scheduler
address and waits; submit with ``w2v-dist run PIPELINE.toml --scheduler ADDRESS``.
"""

from __future__ import annotations

import argparse
import sys


def build_cluster(args):
    """A ``dask_jobqueue.SLURMCluster`` with one single-process worker per job."""
    from dask_jobqueue import SLURMCluster

    prologue = [f"source {args.prologue}"] if args.prologue else []
    # NUMBA_CACHE_DIR: Numba's cache=True needs a writable place on every node
    prologue.append("export NUMBA_CACHE_DIR=${TMPDIR:-/tmp}/w2v-dist-numba")
    return SLURMCluster(
        queue=args.queue,
        account=args.account,
        cores=args.cores,
        processes=1,                      # one worker per job (= per machine), --cores threads
        memory=args.memory,
        walltime=args.walltime,
        job_script_prologue=prologue,
        local_directory="${TMPDIR:-/tmp}",
        log_directory=args.log_directory,
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run a w2v-dist pipeline on SLURM (dask-jobqueue).")
    p.add_argument("pipeline", help="pipeline TOML file (pipelines/*.toml)")
    p.add_argument("--jobs", type=int, default=2, help="SLURM jobs = machines = Dask workers")
    p.add_argument("--cores", type=int, default=8, help="cores per job (threads of its worker)")
    p.add_argument("--memory", default="16GB", help="memory per job")
    p.add_argument("--queue", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--walltime", default="04:00:00")
    p.add_argument("--prologue", help="script sourced first in each job, e.g. the venv's bin/activate")
    p.add_argument("--log-directory", default=None, help="where SLURM writes the workers' logs")
    p.add_argument("--print-script", action="store_true", help="print the job script and exit")
    p.add_argument("--serve", action="store_true", help="print the scheduler address and keep the workers")
    args = p.parse_args(argv)

    from w2v_dist.config import load_pipeline

    pipe = load_pipeline(args.pipeline)  # fail on a bad pipeline before anything is submitted
    cluster = build_cluster(args)
    try:
        if args.print_script:
            print(cluster.job_script())
            return 0
        from distributed import Client

        from w2v_dist.api import run_job

        cluster.scale(jobs=args.jobs)
        with Client(cluster) as client:
            print(f"scheduler {cluster.scheduler_address}; waiting for {args.jobs} worker(s)", file=sys.stderr)
            client.wait_for_workers(args.jobs)
            if args.serve:
                print(cluster.scheduler_address, flush=True)
                input("workers ready; submit with `w2v-dist run PIPELINE --scheduler ADDRESS`; Enter stops them\n")
                return 0
            result = run_job(pipe.inputs, pipe.config, client=client, output=pipe.output,
                             storage_options=pipe.storage_options, overwrite=pipe.overwrite, progress=True)
            print(f"wrote {pipe.output}: vocabulary {result.metrics['vocab_size']:,} words, "
                  f"{result.metrics['words_per_second']:,.0f} words/s on {result.metrics['workers']} workers")
        return 0
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
