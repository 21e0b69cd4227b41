"""Train a deepfake detector: the same as `deepfake-detection train` (see README.md, "Train a model").

    python scripts/train.py --dataset ../shared/data/dfdc-faces --output-dir runs/dfdc-128 --max-steps 3200 --eval-every 200
"""

import sys

from deepfake_detection.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
