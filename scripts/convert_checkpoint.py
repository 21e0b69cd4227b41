"""Convert the original app's checkpoint into a Hub model folder, verified for numerical parity, and optionally push it.

    python scripts/convert_checkpoint.py resnetinceptionv1_epoch_32.pth --output converted/
    python scripts/convert_checkpoint.py org/original:resnetinceptionv1_epoch_32.pth --output converted/ \
        --score-label real --push-to-hub org/deepfake-detector
"""

import argparse
import sys
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError

from deepfake_detection.conversion import convert_checkpoint, resolve_checkpoint
from deepfake_detection.errors import hub_failure
from deepfake_detection.hub import push_folder

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "model_card.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="Local .pth file, or a Hub file as repo_id:filename.")
    parser.add_argument("--output", required=True, help="Folder to write the converted model to.")
    parser.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"],
                        help="Repo type of a repo_id:filename checkpoint.")
    parser.add_argument("--revision", default=None, help="Revision of a repo_id:filename checkpoint.")
    parser.add_argument("--score-label", default="real", choices=["real", "fake"],
                        help="Which class the checkpoint's sigmoid score means (the original app reads it as real).")
    parser.add_argument("--threshold", type=float, default=0.7, help="Decision threshold (default 0.7).")
    parser.add_argument("--card-template", default=str(DEFAULT_TEMPLATE), help="Model card template.")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="Also upload the folder to this repo.")
    args = parser.parse_args()

    try:
        checkpoint = resolve_checkpoint(args.checkpoint, args.repo_type, args.revision)
        output = convert_checkpoint(
            checkpoint,
            args.output,
            score_label=args.score_label,
            threshold=args.threshold,
            card_template=args.card_template,
            card_values={"repo_id": args.push_to_hub, "checkpoint_name": checkpoint.name},
        )
    except ValueError as error:  # ConversionError, or a setting the config refuses
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (HfHubHTTPError, OSError) as error:
        print(f"error: {hub_failure('download the checkpoint from', args.checkpoint, error)}", file=sys.stderr)
        return 1
    print(f"Converted {checkpoint} -> {output}")
    if args.push_to_hub:
        try:
            print(f"Pushed: {push_folder(output, args.push_to_hub, message=f'Convert {checkpoint.name}')}")
        except (HfHubHTTPError, OSError) as error:
            print(f"error: {hub_failure('push to', args.push_to_hub, error)} The converted model is in {output}.",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
