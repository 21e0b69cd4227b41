"""Publish a folder of labelled face images as a Hub dataset (`image`, `label` = ClassLabel(names=["fake", "real"])).

    python scripts/push_dataset.py ../shared/data/ffpp-examples --repo-id org/ffpp-examples --private \
        --source "FaceForensics++ DeepFakeDetection frames" --license-note "FaceForensics++ terms: research only."
    python scripts/push_dataset.py ../shared/data/dfdc-faces --repo-id org/dfdc-faces --private

SOURCE is labelled by file name (real_*, fake_*), by real/ and fake/ subfolders or by a metadata.csv, optionally under
train/, validation/ (or val/, valid/) and test/ split folders in any case, read as `evaluate` reads them
(`deepfake_detection.folders`); without split folders everything goes to one split (--split, default test). Every file
left out is printed with its reason.
"""

import argparse
import sys

from huggingface_hub.errors import HfHubHTTPError

from deepfake_detection.dataset import build_dataset
from deepfake_detection.dataset_release import push_dataset
from deepfake_detection.errors import DatasetFolderError, hub_failure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="Folder of labelled images.")
    parser.add_argument("--repo-id", required=True, help="Dataset repo to create or update, e.g. org/name.")
    parser.add_argument("--private", action="store_true", help="Create the repo as private.")
    parser.add_argument("--split", default="test", help="Split name when SOURCE has no split folders (default test).")
    parser.add_argument("--source", dest="description", default=None, help="Where the images come from (card).")
    parser.add_argument("--license", default="other", help="License id for the card (default other).")
    parser.add_argument("--license-note", default=None, help="License terms of the source data (card).")
    args = parser.parse_args()

    try:
        folder = build_dataset(args.source, split=args.split)
    except DatasetFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path, reason in folder.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for split, counts in folder.counts().items():
        print(f"{split}: {counts['fake']} fake, {counts['real']} real")
    try:
        url = push_dataset(folder, args.repo_id, args.private, args.description, args.license, args.license_note)
    except (HfHubHTTPError, OSError) as error:
        print(f"error: {hub_failure('push the dataset to', args.repo_id, error)}", file=sys.stderr)
        return 1
    print(f"Pushed: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
