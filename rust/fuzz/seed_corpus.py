"""Write the cargo-fuzz seed corpus (gitignored) from the sample files and simulated sessions:
`python rust/fuzz/seed_corpus.py rust/fuzz/corpus` (make fuzz runs it). The sample data is read
where it lies (MBO_FAST_DATA_DIR, default ../shared/data beside the checkout), never copied into
the repository; without it the corpus is simulated only, and this says so."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import fuzz_seeds  # noqa: E402

DATA_DIR = Path(os.environ.get("MBO_FAST_DATA_DIR", ROOT.parent / "shared" / "data"))


def main(out: Path) -> None:
    seeds = fuzz_seeds.all_seeds(DATA_DIR)
    if "clx5" not in seeds or "esh4" not in seeds:
        print(f"seed_corpus: sample files not found in {DATA_DIR}: simulated seeds only")
    for target in ("file_decoder", "live_decoder", "metadata"):
        folder = out / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            if target == "live_decoder":  # the first byte picks the split and the options
                if name.endswith(".zst"):
                    continue  # live streams are plain
                for splits in (0x00, 0x0C, 0x2D, 0xFF):
                    (folder / f"{name}-{splits:02x}").write_bytes(bytes([splits]) + data)
            elif target == "metadata":  # the prelude, the metadata and a record or two
                plain = data if not name.endswith(".zst") else None
                if plain is not None:
                    end = 8 + int.from_bytes(plain[4:8], "little")
                    (folder / name).write_bytes(plain[: end + 128])
                else:
                    (folder / name).write_bytes(data)
            else:
                (folder / name).write_bytes(data)
    print(f"seed_corpus: {len(seeds)} seeds for 3 targets in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "corpus")
