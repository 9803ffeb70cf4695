"""``leg3dus export-model``: a trained network as a MONAI bundle or a TorchScript file."""

from __future__ import annotations

from pathlib import Path

import typer

from ....core.atomic import check_not_input
from ....core.errors import OptionError, OutputError
from ..app import command, console, emit_json

TARGETS = ("monai-bundle", "torchscript")


@command("export-model")
def export_model(
    model: Path = typer.Argument(..., help="A run folder, or a model.ts / .pt file."),
    out: Path = typer.Argument(..., help="monai-bundle: the folder of bundles (the bundle "
                               "is OUT/NAME); torchscript: the .ts file."),
    to: str = typer.Option("monai-bundle", "--to", metavar="|".join(TARGETS),
                           help="monai-bundle: a MONAI bundle (configs/metadata.json, "
                           "configs/inference.json, models/model.pt and model.ts) that "
                           "monai.bundle.load reads; torchscript: one TorchScript file."),
    name: str = typer.Option("leg3dus_calf", "--name", help="monai-bundle: the bundle's name."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing bundle once the new one is complete."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Export a trained model for other tools. The output appears only once complete.

    Example: leg3dus export-model runs/r2d bundles --to monai-bundle --name calf2d
    """
    if to not in TARGETS:
        raise OptionError(f"--to must be one of {', '.join(TARGETS)}, found {to!r}")
    from ....segment.export import export_monai_bundle, export_torchscript
    from ....segment.infer import load_model

    target = out / name if to == "monai-bundle" else out
    if to == "torchscript" and out.suffix != ".ts":
        raise OptionError(f"{out}: expected a TorchScript file name ending in .ts")
    if to == "torchscript" and out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; choose another name or pass --overwrite")
    check_not_input(target, [model])
    loaded = load_model(model, device="cpu")
    if to == "monai-bundle":
        written = export_monai_bundle(loaded, out, name, overwrite=overwrite)
    else:
        from ....segment.models import build_model

        net = build_model(loaded.spec)
        net.load_state_dict(loaded.net.state_dict())
        written = export_torchscript(net, loaded.spec, out)
    result = {"model": str(model), "to": to, "output": str(written), "kind": loaded.spec["kind"]}
    if as_json:
        emit_json(result)
    else:
        console().print(f"{loaded.spec['kind']} model exported as {to}: {written}", markup=False)
