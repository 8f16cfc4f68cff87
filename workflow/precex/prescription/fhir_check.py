"""FHIR R4B validation of the bundles precex writes, with fhir.resources, at a shard's pace.

Validating one bundle with fhir.resources' models costs 0.6-1.7 ms on this project's machine,
most of it the library's Python hooks on each of its ~50 elements; a shard validates two
bundles a patient (the prescription's and the adapted week's). They come from one generator
and share a few shapes, so each shape is validated once with the full models, and every later
bundle of that shape has only its values checked, by the models' own field types:

- The *shape* of a bundle is everything the models decide by structure: the keys of every
  object, the JSON type of every value, each resource's type, and the shapes of the items of
  every list. Every structural check of the models (allowed and required elements, a single
  item of a choice type, no null in a list of elements, the model chosen for a resource) has
  the same outcome for every bundle of one shape (FHIR lists have no maximum length).
- The *values* are then checked one by one with the field type that the full validation of
  the shape's first bundle used for that place (an id, a code, a dateTime...), built with the
  owning model's configuration; a value already seen valid for a field type is not checked
  again (codes, systems and dates repeat across patients).

A value that fails its check sends the bundle through the full models, so the error reads as
fhir.resources words it. tests/unit/test_fhir_check.py checks on damaged bundles that this
never passes a bundle the full models reject.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

Plan = tuple[str, Any]


def _shape(node: Any, shapes: dict[int, Any]) -> Any:
    """The node's shape (each list item's shape also recorded in `shapes` by id)."""
    if isinstance(node, dict):
        return ("object", tuple(
            (key, ("resourceType", value) if key == "resourceType" and isinstance(value, str)
             else _shape(value, shapes)) for key, value in sorted(node.items())))
    if isinstance(node, list):
        items = []
        for item in node:
            shapes[id(item)] = shape = _shape(item, shapes)
            items.append(shape)
        return ("array", frozenset(items))
    return type(node)


def _element_type(annotation: Any) -> Any:
    """The type of one item of a field: Optional and List unwrapped, Annotated kept."""
    while True:
        origin = get_origin(annotation)
        if origin is list:
            annotation = get_args(annotation)[0]
        elif origin is not Annotated and origin is not None and type(None) in get_args(
                annotation) or origin is Union:
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                raise TypeError(f"a choice of types: {annotation}")
            annotation = options[0]
        else:
            return annotation


@cache
def _adapter(annotation: Any, owner: type) -> TypeAdapter:
    return TypeAdapter(annotation, config=owner.model_config)


def _object_plan(data: dict[str, Any], model: BaseModel) -> Plan:
    """The value checks of an object, from its validated model: per key, the plan of the
    value (for a list, per item shape)."""
    fields = {(info.alias or name): name for name, info in type(model).model_fields.items()}
    plan = {}
    for key, value in data.items():
        if key == "resourceType" and isinstance(value, str):
            continue
        name = fields[key]
        annotation = _element_type(type(model).model_fields[name].annotation)
        child = getattr(model, name)
        if isinstance(value, list):
            items: dict[Any, Plan] = {}
            for item, part in zip(value, child, strict=True):
                items[_shape(item, {})] = _item_plan(item, part, annotation, type(model))
            plan[key] = ("array", items)
        else:
            plan[key] = _item_plan(value, child, annotation, type(model))
    return ("object", plan)


def _item_plan(item: Any, part: Any, annotation: Any, owner: type) -> Plan:
    if isinstance(part, BaseModel):
        return _object_plan(item, part)
    if isinstance(item, dict | list):  # never in precex's bundles: no shortcut for it
        raise TypeError("a container held by a primitive field")
    return ("value", _adapter(annotation, owner))


class BundleCheck:
    """validate(bundle) raises pydantic.ValidationError exactly when fhir.resources' R4B
    Bundle model rejects the bundle. One instance per process: it remembers shapes and
    values."""

    def __init__(self) -> None:
        self._plans: dict[Any, Plan | None] = {}
        self._valid: set[tuple[int, type, Any]] = set()

    @staticmethod
    def full(bundle: dict[str, Any]) -> Any:
        from fhir.resources.R4B.bundle import Bundle

        return Bundle.model_validate(bundle)

    def validate(self, bundle: dict[str, Any]) -> None:
        shapes: dict[int, Any] = {}
        shape = _shape(bundle, shapes)
        if shape not in self._plans:
            parsed = self.full(bundle)
            try:
                self._plans[shape] = _object_plan(bundle, parsed)
            except (KeyError, TypeError, ValueError):
                self._plans[shape] = None  # a shape the shortcut does not cover: full always
            return
        plan = self._plans[shape]
        if plan is None or not self._values_valid(bundle, plan, shapes):
            self.full(bundle)  # raises with fhir.resources' own words

    def _values_valid(self, node: Any, plan: Plan, shapes: dict[int, Any]) -> bool:
        kind, inner = plan
        if kind == "value":
            key = (id(inner), type(node), node)
            if key not in self._valid:
                try:
                    inner.validate_python(node)
                except ValidationError:
                    return False
                self._valid.add(key)
            return True
        if kind == "array":
            return all(self._values_valid(item, inner[shapes[id(item)]], shapes)
                       for item in node)
        return all(self._values_valid(value, inner[key], shapes)
                   for key, value in node.items()
                   if not (key == "resourceType" and isinstance(value, str)))
