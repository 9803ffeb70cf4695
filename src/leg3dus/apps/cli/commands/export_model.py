"""``leg3dus export-model``: a trained network as a MONAI bundle, a TorchScript file or an
ONNX file."""

from __future__ import annotations

from pathlib import Path

import typer

from ....segment.runs import EXPORT_TARGETS as TARGETS
from ..app import command, emit_json
from ..output import say


@command("export-model")
def export_model(
    model: Path = typer.Argument(..., help="A run folder, or a model.ts / .pt file."),
    out: Path = typer.Argument(..., help="monai-bundle: the folder of bundles (the bundle "
                               "is OUT/NAME); torchscript: the .ts file; onnx: the .onnx file."),
    to: str = typer.Option("monai-bundle", "--to", metavar="|".join(TARGETS),
                           help="monai-bundle: a MONAI bundle (configs/metadata.json, "
                           "configs/inference.json, models/model.pt and model.ts) that "
                           "monai.bundle.load reads; torchscript: one TorchScript file; onnx: "
                           "one ONNX file (onnxruntime runs it; the onnx extra)."),
    name: str = typer.Option("leg3dus_calf", "--name", help="monai-bundle: the bundle's name."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing bundle once the new one is complete."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Export a trained model for other tools. The output appears only once complete.

    Example: leg3dus export-model runs/r2d bundles --to monai-bundle --name calf2d
    """
    from ....segment.runs import export_model as export

    result = export(model, out, to, name, overwrite)
    if as_json:
        emit_json(result)
    else:
        say(f"{result['kind']} model exported as {to}: {result['output']}")
