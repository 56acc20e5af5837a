"""``ser fuse``: one bundle from several trained bundles (late fusion of calibrated probabilities)."""
from __future__ import annotations

import click

from .common import handle_errors


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder of the fused bundle.")
@click.option("-w", "--weights", default=None, metavar="W1,W2,...",
              help="One weight per bundle, comma-separated (normalised to sum 1) [default: equal].")
@click.option("--mean", type=click.Choice(["geometric", "arithmetic"]), default="geometric", show_default=True,
              help="How the members' calibrated probabilities are averaged.")
@click.option("--calibrate-on", "runs", multiple=True, type=click.Path(file_okay=False), metavar="RUN",
              help="Each member's cross-validated run directory (ser train / ser sweep, the run whose model is "
                   "that member), repeated in the members' order: the fused bundle gets a temperature of its "
                   "own, fitted on the fused out-of-fold predictions.")
@click.option("--temperature", type=float, default=None, metavar="T",
              help="The fused bundle's temperature as a number, when the members are refits without "
                   "out-of-fold predictions (chosen on their cross-validated runs: bench/fusion_cv.py "
                   "--conditions --own-temperature); with a profile member, for the answers without a profile.")
@click.option("--profile-member", type=click.Path(file_okay=False), default=None, metavar="BUNDLE",
              help="A bundle trained with speaker_normalisation, used in place of the member --replaces when a "
                   "clip comes with its speaker's profile (ser predict --profile, accounts in the app).")
@click.option("--replaces", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Which member (1 = the first BUNDLE) the profile member takes the place of.")
@click.option("--profile-weight", type=float, default=None, metavar="W",
              help="The profile member's weight, on the scale of --weights [default: the replaced member's].")
@click.option("--profile-temperature", type=float, default=None, metavar="T",
              help="The temperature of the fused probabilities when a clip comes with a profile (chosen on the "
                   "members' cross-validated runs: bench/fusion_cv.py --shared-clips) [default: none].")
@click.option("--force", is_flag=True, help="Replace the output folder if it exists.")
@handle_errors
def fuse(bundles, output, weights, mean, runs, temperature, profile_member, replaces, profile_weight,
         profile_temperature, force):
    """Fuse the model BUNDLES into one bundle that averages their calibrated probabilities.

    The members must share labels and audio settings; they are copied into the
    new bundle, whose manifest records where each came from. Use it like any
    bundle: ser predict --model OUTPUT clip.wav
    """
    from ser_framework import BundleError, fuse_bundles

    values = None
    if weights is not None:
        try:
            values = [float(w) for w in weights.split(",")]
        except ValueError:
            raise BundleError(f"--weights: expected numbers separated by commas, got {weights!r}") from None
    path = fuse_bundles(bundles, output, weights=values, mean=mean, overwrite=force, calibrate_on=runs or None,
                        profile_member=profile_member, replaces=replaces - 1, profile_weight=profile_weight,
                        profile_temperature=profile_temperature, temperature=temperature)
    at_t = "" if temperature is None else f", fused probabilities at temperature {temperature:g}"
    click.echo(f"fused {len(bundles)} bundles ({mean} mean{at_t}) → {path}")
    if profile_member:
        at = "" if profile_weight is None else f" at weight {profile_weight:g}"
        tempered = "" if profile_temperature is None else f", fused probabilities at temperature {profile_temperature:g}"
        click.echo(f"with a speaker profile, {profile_member} takes the place of {bundles[replaces - 1]}{at}{tempered}")
    if runs:
        import json

        from ser_framework import MANIFEST

        cal = json.loads((path / MANIFEST).read_text())["calibration"]  # just written and checked
        click.echo(f"fused temperature {cal['temperature']:.3f}: ECE {cal['ece_raw']:.3f} → {cal['ece']:.3f} "
                   f"(cross-fitted, n={cal['n']})")


COMMANDS = [fuse]
