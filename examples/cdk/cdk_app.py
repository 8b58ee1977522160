"""AWS CDK (Python) with lambdazip's zips (docs/with-cdk.md). Build first, then synthesize or
deploy as usual:

    lambdazip build --json > dist/build.json
    cdk deploy --app "python cdk_app.py"

Each asset is the zip lambdazip wrote: its hash changes only when its bytes do, and lambdazip's
bytes change only when the inputs do.
"""

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

HERE = Path(__file__).resolve().parent
DOCUMENT = json.loads((HERE / "dist" / "build.json").read_text())
BUILT = {a["name"]: a for a in DOCUMENT["artifacts"]}
ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}


def runtime(artifact: dict) -> lambda_.Runtime:
    return lambda_.Runtime(artifact["runtime"], lambda_.RuntimeFamily.PYTHON)


app = cdk.App()
stack = cdk.Stack(app, "Orders")
deps = BUILT["deps"]
layer = lambda_.LayerVersion(
    stack,
    "Deps",
    code=lambda_.Code.from_asset(deps["zip"]),
    compatible_runtimes=[runtime(deps)],
    compatible_architectures=[ARCHITECTURES[deps["architecture"]]],
)
api = BUILT["api"]
lambda_.Function(
    stack,
    "Api",
    code=lambda_.Code.from_asset(api["zip"]),
    handler=api["handler"],
    runtime=runtime(api),
    architecture=ARCHITECTURES[api["architecture"]],
    layers=[layer],
)
app.synth()
