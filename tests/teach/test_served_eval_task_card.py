"""`ftcot eval` of a served model on a task card: the card is resolved once, by the same function as teach."""

import json

from typer.testing import CliRunner

from ftcot.cli import app
from ftcot.records import read_manifest, read_records


def test_eval_of_a_served_model_on_a_task_card(fault_server, tmp_path):
    lines = [{"q": f"What is {i} plus 1?", "a": str(i + 1)} for i in range(10)]
    (tmp_path / "sums.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    card = tmp_path / "sums.toml"
    card.write_text(
        'source = "sums.jsonl"\nanswer_type = "number"\nquestion_field = "q"\nanswer_field = "a"\n'
    )
    server = fault_server()
    out = tmp_path / "eval"
    command = ["eval", "openai:fault-model", "--task", str(card), "--out", str(out), "--base-url", server.url,
               "--method", "zero_shot"]  # fmt: skip
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert len(records) == 3 and {r.task for r in records} == {"sums"}  # the card's test split
    assert read_manifest(out)["task"] == "sums"
    assert CliRunner().invoke(app, command).exit_code == 0  # a rerun resumes the same evaluation
