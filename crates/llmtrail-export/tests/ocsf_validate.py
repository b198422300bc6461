"""Validates OCSF JSON lines against the OCSF schema models of pydantic-ocsf.

Usage: python ocsf_validate.py FILE

Each line is validated as the class its class_uid names (API Activity 6003, Detection Finding
2004) with the OCSF 1.7.0 models, the newest schema the package ships. The models accept
unknown attributes, so every attribute they kept as "extra" is reported too, except inside
`unmapped` (free-form by definition) and the AI Operation profile attributes that OCSF added to
API Activity in 1.8.0 (`ai_model`, `message_context`, `stop_reason`). Exit status 1 and one
line per problem when anything is wrong.
"""

import json
import sys

from pydantic import BaseModel, ValidationError
from ocsf.v1_7_0.events import APIActivity, DetectionFinding

CLASSES = {6003: APIActivity, 2004: DetectionFinding}
PROFILE_1_8 = {6003: {"$.ai_model", "$.message_context", "$.stop_reason"}}


def extras(model, path="$"):
    found = []
    if isinstance(model, BaseModel):
        for key in model.__pydantic_extra__ or {}:
            found.append(f"{path}.{key}")
        for name in type(model).model_fields:
            if f"{path}.{name}" == "$.unmapped":
                continue
            found += extras(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for i, item in enumerate(model):
            found += extras(item, f"{path}[{i}]")
    return found


def main():
    problems = []
    count = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            obj = json.loads(line)
            cls = CLASSES.get(obj.get("class_uid"))
            if cls is None:
                problems.append(f"line {n}: unexpected class_uid {obj.get('class_uid')}")
                continue
            try:
                model = cls.model_validate(obj)
            except ValidationError as e:
                problems.append(f"line {n}: {e}")
                continue
            allowed = PROFILE_1_8.get(obj["class_uid"], set())
            for path in extras(model):
                if path not in allowed:
                    problems.append(f"line {n}: attribute {path} is not in the schema")
            count += 1
    for p in problems:
        print(p)
    print(f"{count} records valid, {len(problems)} problems")
    sys.exit(1 if problems or count == 0 else 0)


main()
