"""Optional graph outputs (``beit-export --outputs hidden_states,attentions --attention-layers ...``).

``ExtraOutputs`` is what an export adds to its task's graph outputs, resolved against the model: the
names (the task registry's ``Task.optional_outputs``, in registry order), the encoder layers whose
attention weights are kept, and the model's layer count. Its ``record()`` is the manifest's
``export.extra_outputs`` record, which the runtime reads (``beit_runtime.layer_outputs``).

``--attention-layers``: "all", "last", or 0-based layer numbers "N,M" (negative ones count from the
last layer). Without it a task's ``default_attention_layers`` applies ("last" for segmentation).
Sizes: the attentions output holds ``layers x heads x tokens^2`` floats per image, e.g. at 224
(197 tokens, 12 layers, 12 heads) 22 MB of fp32 per image, at 640 (1,601 tokens) 1.5 GB; the
hidden states ``(layers + 1) x tokens x hidden`` floats (at 640: 64 MB).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from beit_runtime.attention import output_bytes
from beit_runtime.tasks import TASKS, Task

from .options import ExportOptionsError

# every optional output some task offers, in registry order ("hidden_states", "attentions")
OUTPUT_CHOICES = tuple(dict.fromkeys(spec.name for entry in TASKS.values() for spec in entry.optional_outputs))
LAYER_KEYWORDS = ("all", "last")
ATTENTION_LAYERS_HELP = (
    "attentions of which encoder layers: all, last, or 0-based numbers N,M (negative: from the last); "
    "default all (segmentation: last). fp32 attentions per image are layers x heads x tokens^2 x 4 bytes: "
    "BEiT-base at 224 (197 tokens, 12 heads) 1.9 MB a layer, 22 MB for all 12; at 640 (1,601 tokens) "
    "123 MB a layer, 1.5 GB for all 12"
)


class ExtraOutputsError(ExportOptionsError):
    """``--outputs`` / ``--attention-layers`` name something the exporter cannot add; the message says what can."""


def parse_outputs(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """"hidden_states,attentions" (or a sequence of names) -> the names in canonical order; () for none."""
    if value is None:
        return ()
    names = [item.strip() for item in (value.split(",") if isinstance(value, str) else value)]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in OUTPUT_CHOICES]
    if unknown:
        raise ExtraOutputsError(f"--outputs {', '.join(unknown)} is not an optional output; expected a comma-separated "
                                f"list of {', '.join(OUTPUT_CHOICES)}")
    return tuple(name for name in OUTPUT_CHOICES if name in names)


def parse_attention_layers(value: str | None) -> str | tuple[int, ...] | None:
    """"all" / "last" as they are, "N,M" as a tuple of ints, None (the task's default) as None."""
    if value is None or value in LAYER_KEYWORDS:
        return value
    try:
        numbers = tuple(int(part) for part in str(value).split(",") if part.strip())
    except ValueError:
        numbers = ()
    if not numbers:
        raise ExtraOutputsError(f"--attention-layers {value!r}: expected all, last, or comma-separated layer "
                                "numbers such as 0,11 (0-based; negative numbers count from the last layer)")
    return numbers


def resolve_layers(choice: str | tuple[int, ...] | None, *, num_layers: int, entry: Task) -> tuple[int, ...]:
    """The 0-based encoder layers whose attentions the graph outputs, sorted, each once."""
    choice = entry.default_attention_layers if choice is None else choice
    if choice == "all":
        return tuple(range(num_layers))
    if choice == "last":
        return (num_layers - 1,)
    wrong = [number for number in choice if not -num_layers <= number < num_layers]
    if wrong:
        raise ExtraOutputsError(f"--attention-layers {','.join(map(str, wrong))}: the model has {num_layers} layers; "
                                f"expected numbers from 0 to {num_layers - 1} (or -{num_layers} to -1)")
    return tuple(sorted({number % num_layers for number in choice}))


@dataclass(frozen=True)
class ExtraOutputs:
    """The optional outputs of one export, resolved against its model."""

    names: tuple[str, ...]
    attention_layers: tuple[int, ...]
    num_layers: int

    @property
    def hidden_states(self) -> bool:
        return "hidden_states" in self.names

    @property
    def attentions(self) -> bool:
        return "attentions" in self.names

    def record(self) -> dict[str, Any]:
        """The manifest's ``export.extra_outputs`` record."""
        return {"outputs": list(self.names), "num_layers": self.num_layers,
                "attention_layers": list(self.attention_layers) if self.attentions else []}

    def bytes_per_image(self, *, tokens: int, heads: int, hidden: int) -> int:
        """fp32 bytes these outputs take for one image of ``tokens`` tokens."""
        return output_bytes(self.names, tokens=tokens, heads=heads, hidden=hidden, num_layers=self.num_layers,
                            attention_layers=len(self.attention_layers))


def resolve_extra_outputs(names: tuple[str, ...], choice: str | tuple[int, ...] | None, *, config: Any,
                          entry: Task) -> ExtraOutputs | None:
    """``ExtraOutputs`` for a model ``config`` (None when no optional output was asked for)."""
    if not names:
        return None
    available = {spec.name for spec in entry.optional_outputs}
    missing = [name for name in names if name not in available]
    if missing:
        raise ExtraOutputsError(f"{entry.name} graphs cannot carry {', '.join(missing)}; "
                                f"they offer {', '.join(sorted(available)) or 'no optional outputs'}")
    num_layers = int(config.num_hidden_layers)
    return ExtraOutputs(names=names, attention_layers=resolve_layers(choice, num_layers=num_layers, entry=entry),
                        num_layers=num_layers)


def record_of(extra: ExtraOutputs | None) -> Mapping[str, Any]:
    """The ``extra_outputs`` part of the export record: empty for a default export (its manifest is unchanged)."""
    return {} if extra is None else {"extra_outputs": extra.record()}


def export_extra_outputs(checkpoint: Any, options: Any) -> ExtraOutputs | None:
    """The ``ExtraOutputs`` an export asks for (``ExportOptions.outputs``), refused when its random parity cases
    would not fit in memory (``parity.memory.check_cases_fit``; photos and the user's images are sized when the
    cases are built, before any reference runs)."""
    from beit_runtime.tasks import task

    from .parity.cases import random_cases
    from .parity.memory import check_cases_fit

    config = checkpoint.config
    extra = resolve_extra_outputs(options.outputs, options.attention_layers, config=config, entry=task(checkpoint.task))
    if extra is None:
        return None
    check_cases_fit(random_cases(config, dynamic_resolution=options.dynamic_resolution), config, extra=extra)
    return extra
