"""The widgets and layout of the annotation dock widget (no behaviour but wiring)."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from ...core.labels import MUSCLES
from .propagation import CHOICES

AXES = ("z (along the leg)", "y (depth)", "x (width)")


def build_controls(w) -> None:
    """Create the controls of the annotation widget ``w`` as its attributes, connect
    them to its methods and lay them out."""
    form = QFormLayout()
    w.axis_box = QComboBox()
    w.axis_box.addItems(AXES)
    w.axis_box.currentIndexChanged.connect(w._axis_changed)
    form.addRow("Axis", w.axis_box)
    w.guide_mm = QDoubleSpinBox()
    w.guide_mm.setRange(0.1, 500.0)
    w.guide_mm.setValue(5.0)
    w.guide_mm.setSuffix(" mm")
    form.addRow("Guide every", w.guide_mm)
    nav = QHBoxLayout()
    w.prev_button = QPushButton("< Previous")
    w.next_button = QPushButton("Next >")
    w.prev_button.clicked.connect(lambda: w.jump(-1))
    w.next_button.clicked.connect(lambda: w.jump(+1))
    nav.addWidget(w.prev_button)
    nav.addWidget(w.next_button)
    muscles = QHBoxLayout()
    w.muscle_buttons = {}
    for m in MUSCLES:
        b = QPushButton(m.name)
        b.setStyleSheet(f"background-color: rgb{m.color}; color: black")
        b.setToolTip(f"Paint {m.long_name} ({m.value}) on the annotations layer")
        b.clicked.connect(lambda _=False, v=m.value: w.paint(v))
        muscles.addWidget(b)
        w.muscle_buttons[m.name] = b
    mark = QHBoxLayout()
    w.mark_button = QPushButton("Mark slice annotated")
    w.unmark_button = QPushButton("Unmark")
    w.mark_button.clicked.connect(lambda: w.mark())
    w.unmark_button.clicked.connect(lambda: w.unmark())
    mark.addWidget(w.mark_button)
    mark.addWidget(w.unmark_button)
    w.slice_list = QListWidget()
    w.slice_list.itemDoubleClicked.connect(
        lambda item: w.go_to(int(item.text().split()[1])))
    w.method_box = QComboBox()
    w.method_box.addItems(list(CHOICES))
    w.method_box.setCurrentText("sdf")
    w.run_edit = QLineEdit()
    w.run_edit.setPlaceholderText("trained run folder (method run)")
    w.propagate_button = QPushButton("Propagate")
    w.cancel_button = QPushButton("Cancel")
    w.cancel_button.setEnabled(False)
    w.propagate_button.clicked.connect(lambda: w.propagate())
    w.cancel_button.clicked.connect(w.cancel)
    w.progress = QProgressBar()
    w.progress.setRange(0, 1)
    w.progress.setValue(0)
    w.status = QLabel("")
    w.status.setWordWrap(True)
    w.accept_button = QPushButton("Accept into labels")
    w.accept_button.clicked.connect(lambda: w.accept())
    w.save_button = QPushButton("Save")
    w.save_button.clicked.connect(lambda: w.save())
    run = QHBoxLayout()
    run.addWidget(w.propagate_button)
    run.addWidget(w.cancel_button)
    layout = QVBoxLayout(w)
    layout.addLayout(form)
    layout.addLayout(nav)
    layout.addLayout(muscles)
    layout.addLayout(mark)
    layout.addWidget(QLabel("Annotated slices (double-click to go):"))
    layout.addWidget(w.slice_list)
    method = QFormLayout()
    method.addRow("Method", w.method_box)
    method.addRow("Run", w.run_edit)
    layout.addLayout(method)
    layout.addLayout(run)
    layout.addWidget(w.progress)
    layout.addWidget(w.accept_button)
    layout.addWidget(w.save_button)
    layout.addWidget(w.status)
