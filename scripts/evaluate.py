"""Evaluate a deepfake detector on a labelled dataset split: predictions.csv, metrics.json, plots, model-index.

    python scripts/evaluate.py --model org/detector --dataset org/ffpp-examples --split test
    python scripts/evaluate.py --model converted/ --dataset ../shared/data/dfdc-faces --split validation \
        --faces crops --limit 200 --output-dir eval-dfdc
    python scripts/evaluate.py --model org/detector --dataset org/ffpp-examples --push-to-hub

Same as `deepfake-detection evaluate`; run it with --help for every option.
"""

import sys

from deepfake_detection.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
