"""Fuzzing the running receiver: mutated and random DC-09 frames over TCP and UDP, and MQTT payloads.

    python -m bench.fuzz [--frames 1000000] [--seed 1] [--write]

A real `alarmhub receiver` process runs on a fresh database (ALARMHUB_BENCH_DATABASE_URL or
ALARMHUB_TEST_DATABASE_URL, otherwise an embedded PostgreSQL) and a Mosquitto of the run's own (see own_mosquitto;
--broker names another, one no other receiver uses). Plain and AES panels (128, 192 and 256-bit keys) are enrolled,
and the fuzzer sends valid frames of many shapes (Contact ID, SIA DCS with modifiers, texts and x-data, NULL, binary
CRCs, the tolerated header deviations, AES) — mutated (bit flips, insertions, deletions, truncation, a wrong length
or CRC, random or non-ASCII bytes in the data block with the CRC made right again, frames over the length limit,
wrong keys, garbled ciphertext, stale timestamps, frames run together) — and random bytes: over several TCP
connections (reconnecting when the receiver closes one), over UDP, and as MQTT payloads (DC-09 frames and JSON
events) on the receiver's topics. Every few hundred inputs (FuzzPlan.canary_every) a session sends a known-good
frame, which must be acknowledged and stored. Inputs are deterministic for a --seed: each session draws from its own
generator (the timestamps excepted).

What each input must get comes from an oracle: the receiver's reference codec (receiver/dc09: the frame splitter,
parse_envelope, open_message, and receiver/ingest.py's choose_answer, "the one place" that picks the answer) over
the enrolled accounts — the code that alone decides rejections. So the run checks that the running process (the
compiled fast path, TCP reads cut anywhere, UDP, MQTT, the batch writer, ACK after commit) answers every input as
the reference says, in order on TCP and MQTT, with answers that echo the frame's sequence and decrypt with its key.
Inputs whose answer DC-09 fixes whatever a codec says (a wrong CRC or length, a frame over the limit: NAK; an
unsupported type: DUH; bytes without an LF: silence; a valid frame: ACK) hold the oracle itself to the spec. TCP
connections left with half a frame (FuzzPlan.stall_every) must be cut after `receiver.frame_timeout` without an
answer, and no connection may be cut before a begun frame has waited that long. At the end: the process is alive and
logged no error, its RSS grew by less than the allowance after a warm-up, the metrics and the rejected_frames table
count exactly the rejections the oracle predicted (by transport and reason), and every acknowledged known-good frame
is in signals.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bench.fuzz.mosquitto import MOSQUITTO_SETTINGS, own_mosquitto
from bench.fuzz.plan import Broker, FuzzPlan
from bench.fuzz.report import report
from bench.fuzz.run import fuzz
from bench.ingest import migrated_database, run_benchmark, server_url, write_results


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fuzz.py",  # the usage line as it read when the fuzzer was the one file bench/fuzz.py
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--frames", type=int, default=1_000_000, help="fuzz inputs in all (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--broker", help="an MQTT broker no other receiver uses (default: a Mosquitto of the run's own)"
    )
    parser.add_argument("--no-mqtt", action="store_true", help="TCP and UDP only")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
    args = parser.parse_args(argv)
    plan = FuzzPlan(frames=args.frames, seed=args.seed)
    url, embedded = server_url()
    try:
        async with migrated_database(url, "fuzz") as database_url:
            connection = await asyncpg.connect(database_url)
            version = await connection.fetchval("SHOW server_version")
            await connection.close()
            with tempfile.TemporaryDirectory(prefix="alarmhub-fuzz-broker-") as directory:
                async with own_mosquitto(Path(directory)) as own:
                    broker = None if args.no_mqtt else Broker(args.broker) if args.broker else own
                    if broker is None and not args.no_mqtt:
                        raise SystemExit("no mosquitto binary: give --broker URL (a broker no other receiver uses)")
                    outcome = await fuzz(plan, database_url, broker)
    finally:
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    where = "embedded" if embedded else f"server at {urlsplit(url).netloc}"
    command = f"python -m bench.fuzz --frames {args.frames} --seed {args.seed}{' --no-mqtt' if args.no_mqtt else ''}"
    if broker is own and own is not None:
        outcome.broker = f"Mosquitto of its own ({MOSQUITTO_SETTINGS.strip().replace(chr(10), ', ')})"
    text = report(outcome, f"PostgreSQL {version} ({where})", command)
    print(text)
    if args.write:
        write_results(text, section="fuzz", title="Fuzzing the running receiver (`make fuzz`)")
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    run_benchmark(main)
