"""Transforms template.yaml as `sam deploy` would, with the installed
aws-sam-translator, into plain CloudFormation JSON for policy/nag.js.

    python3 policy/transform.py template.yaml > .cache/policy/template.json

SAM CLI packages CodeUri (a local path here) before the transform; this
stands in an S3 location for it, which no check reads.
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policy by name, only ARNs."""

    def load(self):
        return {}


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    globals_fn = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_fn:
        globals_fn["CodeUri"] = "s3://packaged-by-sam/chat.zip"
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://packaged-by-sam/chat.zip"
    out = transform(template, {}, NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
