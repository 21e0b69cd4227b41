"""Publish the bundled model (or any model folder) to the Hub, with the code that `trust_remote_code=True` loads.

    python scripts/publish_model.py [--folder DIR] [--repo-id org/name]
"""

import argparse
import sys

from huggingface_hub.errors import HfHubHTTPError

from deepfake_detection.export import publish_model
from deepfake_detection.errors import hub_failure
from deepfake_detection.hub import BUNDLED_MODEL_DIR, PUBLISHED_MODEL_ID


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=str(BUNDLED_MODEL_DIR), help="Model folder (default: the bundled model).")
    parser.add_argument("--repo-id", default=PUBLISHED_MODEL_ID, help=f"Model repo (default {PUBLISHED_MODEL_ID}).")
    args = parser.parse_args(argv)
    try:
        url = publish_model(args.folder, args.repo_id)
    except (HfHubHTTPError, OSError) as error:
        print(f"error: {hub_failure('publish the model to', args.repo_id, error)}", file=sys.stderr)
        return 1
    print(f"Published {args.folder} to {args.repo_id}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
