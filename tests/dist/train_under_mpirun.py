#!/usr/bin/env python3
"""`attn train` under mpirun, against the same run in one process.

  train_under_mpirun.py ATTN WORKDIR same-losses P MPIEXEC...
      P ranks train the tiny GPT: each step's loss and validation loss are bitwise those of one
      process with --micro-batches P, and within 1e-5 of one process with the whole batch; only
      rank 0 prints and writes the checkpoint; a run resumed under mpirun continues bitwise as a
      run resumed in one process.
  train_under_mpirun.py ATTN WORKDIR sequence-parallel P MPIEXEC...
      P ranks train the tiny GPT with --sequence-parallel (each holds 1/P of every sequence,
      attention as ring attention): the losses are within 1e-4 of one process's, also resumed
      under mpirun from a checkpoint of one process.
  train_under_mpirun.py ATTN WORKDIR uneven-context P MPIEXEC...
      --sequence-parallel with a context that does not divide among the ranks: a usage error.
  train_under_mpirun.py ATTN WORKDIR uneven-batch P MPIEXEC...
      a batch that does not divide among the ranks: one usage error, printed once, exit 2.
  train_under_mpirun.py ATTN WORKDIR missing-corpus P MPIEXEC...
      every rank finds the --data file missing: one line, printed once, exit 1, no abort.
  train_under_mpirun.py ATTN WORKDIR rank-killed P MPIEXEC...
      rank 1 dies of SIGKILL in the middle of the run: the job ends, with a non-zero status.
"""
import json
import os
import subprocess
import sys

STEPS = 50
TINY = ["train", "--preset", "tiny", "--threads", "1", "--json"]


def run(cmd, timeout=120):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def losses(stdout):
    """(step, loss, val_loss) of each step's JSON line, and the final line."""
    steps, done = [], []
    for line in stdout.splitlines():
        j = json.loads(line)
        if j.get("done"):
            done.append(j)
        else:
            steps.append((j["step"], j["loss"], j.get("val_loss")))
    return steps, done


def train(prefix, out, *args):
    rc, stdout, stderr = run(prefix + TINY + ["--out", out] + list(args))
    if rc != 0:
        sys.exit(f"{' '.join(prefix + TINY)} {' '.join(args)} failed ({rc}):\n{stderr}")
    return losses(stdout)


def expect(ok, message):
    if not ok:
        sys.exit("FAILED: " + message)


def same_losses(attn, work, np, mpi):
    one = [attn]
    ranks = mpi + ["-np", str(np), attn]
    parted, _ = train(one, f"{work}/parted.safetensors", "--steps", str(STEPS),
                      "--micro-batches", str(np))
    whole, _ = train(one, f"{work}/whole.safetensors", "--steps", str(STEPS))
    spread, done = train(ranks, f"{work}/ranks.safetensors", "--steps", str(STEPS))
    expect(len(spread) == STEPS and len(done) == 1,
           f"{len(spread)} step lines and {len(done)} results: rank 0 alone prints")
    expect(done[0].get("ranks") == np, f"the result names {done[0].get('ranks')} ranks")
    expect(spread == parted, f"the losses of {np} ranks differ from one process with "
           f"--micro-batches {np}: {[(a, b) for a, b in zip(spread, parted) if a != b][:3]}")
    worst = max(abs(a[1] - b[1]) for a, b in zip(spread, whole))
    expect(worst <= 1e-5, f"the losses of {np} ranks are {worst} from the whole batch's")
    expect(os.path.exists(f"{work}/ranks.safetensors"), "no checkpoint written")

    # Resumed at step 20 of 50, under mpirun and in one process, from each one's checkpoint.
    train(ranks, f"{work}/ranks20.safetensors", "--steps", "20")
    train(one, f"{work}/one20.safetensors", "--steps", "20", "--micro-batches", str(np))
    on_ranks, _ = train(ranks, f"{work}/ranks_resumed.safetensors", "--steps", str(STEPS),
                        "--resume", f"{work}/ranks20.safetensors")
    in_one, _ = train(one, f"{work}/one_resumed.safetensors", "--steps", str(STEPS),
                      "--micro-batches", str(np), "--resume", f"{work}/one20.safetensors")
    expect(len(on_ranks) == STEPS - 20 and on_ranks[0][0] == 21,
           f"the resumed run did {len(on_ranks)} steps from {on_ranks[0][0]}")
    expect(on_ranks == in_one, "the run resumed under mpirun differs from the one resumed in "
           "one process")
    print(f"{np} ranks: {STEPS} steps bitwise as one process with --micro-batches {np}, "
          f"within {worst:.2g} of the whole batch; resume continues bitwise")


def sequence_parallel(attn, work, np, mpi):
    whole, _ = train([attn], f"{work}/whole.safetensors", "--steps", str(STEPS))
    sharded, done = train(mpi + ["-np", str(np), attn], f"{work}/sharded.safetensors",
                          "--steps", str(STEPS), "--sequence-parallel")
    expect(len(sharded) == STEPS and len(done) == 1,
           f"{len(sharded)} step lines and {len(done)} results: rank 0 alone prints")
    worst = max(abs(a[1] - b[1]) for a, b in zip(sharded, whole))
    worst_val = max(abs(a[2] - b[2]) for a, b in zip(sharded, whole) if a[2] is not None)
    expect(worst <= 1e-4 and worst_val <= 1e-4,
           f"the losses of {np} sequence shards are {worst} (validation {worst_val}) from one "
           "process's")

    # Resumed at step 20 under mpirun from the checkpoint of one process, against one process.
    train([attn], f"{work}/one20.safetensors", "--steps", "20")
    in_one, _ = train([attn], f"{work}/one_resumed.safetensors", "--steps", str(STEPS),
                      "--resume", f"{work}/one20.safetensors")
    on_ranks, _ = train(mpi + ["-np", str(np), attn], f"{work}/ranks_resumed.safetensors",
                        "--steps", str(STEPS), "--sequence-parallel",
                        "--resume", f"{work}/one20.safetensors")
    expect(len(on_ranks) == STEPS - 20 and on_ranks[0][0] == 21,
           f"the resumed run did {len(on_ranks)} steps from {on_ranks[0][0]}")
    resumed = max(abs(a[1] - b[1]) for a, b in zip(on_ranks, in_one))
    expect(resumed <= 1e-4, f"the resumed sequence-parallel run is {resumed} from one process's")
    print(f"{np} sequence shards: {STEPS} steps within {worst:.2g} of one process "
          f"(validation within {worst_val:.2g}); resumed within {resumed:.2g}")


def usage_error_once(attn, work, np, mpi, args, message):
    rc, stdout, stderr = run(mpi + ["-np", str(np), attn] + TINY + args +
                             ["--steps", "2", "--out", f"{work}/uneven.safetensors"])
    expect(rc == 2, f"exit status {rc}, not 2:\n{stderr}")
    expect(stderr.count(message) == 1, f"expected '{message}' once, got:\n{stderr}")
    print(stderr.strip())


def uneven_batch(attn, work, np, mpi):
    usage_error_once(attn, work, np, mpi, [],
                     f"attn: the batch of 4 sequences does not divide among {np} ranks")


def uneven_context(attn, work, np, mpi):
    usage_error_once(attn, work, np, mpi, ["--sequence-parallel"],
                     f"attn: the context of 32 tokens does not divide among {np} ranks")


def missing_corpus(attn, work, np, mpi):
    missing = f"{work}/no_such_corpus.txt"
    rc, _, stderr = run(mpi + ["-np", str(np), attn] + TINY +
                        ["--data", missing, "--steps", "2", "--out", f"{work}/m.safetensors"])
    expect(rc == 1, f"exit status {rc}, not 1:\n{stderr}")
    expect(stderr.count(missing) == 1, f"expected the missing file named once, got:\n{stderr}")
    expect("failed" not in stderr, f"a rank aborted the job:\n{stderr}")
    expect(not os.path.exists(f"{work}/m.safetensors"), "a checkpoint was written")
    print(stderr.strip().splitlines()[0])


def rank_killed(attn, work, np, mpi):
    # Rank 1 becomes attn (exec keeps its pid) and is killed two seconds in.
    script = ('[ "${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}" = 1 ] && '
              '(sleep 2; kill -9 $$) & exec "$@"')
    cmd = mpi + ["-np", str(np), "sh", "-c", script, "sh", attn] + TINY + \
        ["--steps", "100000", "--out", f"{work}/killed.safetensors"]
    try:
        rc, _, stderr = run(cmd, timeout=60)
    except subprocess.TimeoutExpired:
        sys.exit("FAILED: the job still ran 60 s after rank 1 was killed")
    expect(rc != 0, "the job ended with status 0 after rank 1 was killed")
    print(f"the job ended with status {rc}:\n{stderr.strip()}")


def main():
    attn, work, mode, np, mpi = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), \
        sys.argv[5:]
    os.makedirs(work, exist_ok=True)
    {"same-losses": same_losses, "sequence-parallel": sequence_parallel,
     "uneven-batch": uneven_batch, "uneven-context": uneven_context,
     "missing-corpus": missing_corpus, "rank-killed": rank_killed}[mode](attn, work, np, mpi)


if __name__ == "__main__":
    main()
