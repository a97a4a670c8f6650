"""Reads a MOTChallenge sequence's seqinfo.ini, for the scripts beside this one."""
import os


def seqinfo(seq_dir, key, convert=float):
    """The value of `key` (e.g. frameRate, seqLength) in SEQ_DIR/seqinfo.ini; exits naming the
    file when it is missing."""
    path = os.path.join(seq_dir, "seqinfo.ini")
    with open(path) as f:
        for line in f:
            name, _, value = line.partition("=")
            if name.strip().lower() == key.lower():
                return convert(value)
    raise SystemExit(f"{path}: no {key}")
