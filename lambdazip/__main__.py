from lambdazip.cli import run

run()
