"""The generated hostile suite, options: every option of every script,
read from the script's own parser, fed what a careless or malicious user
types (the wrong type, empty, zero, negative, huge, NaN, inf, paths of the
wrong kind); every config option of every train.py the same from a config
file and from a resumed run's saved config; every option that applies only
to some runs, where it does not. A refusal is one line, exit status 2, and
nothing already written changes (docs/errors.md). A new script or option is
covered as soon as it exists: its rule comes from its declaration."""
import argparse
import copy
import json
import os

import pytest

from attractors.options import UsageError, parse_options, read_config_file
from attractors.rules import rule_of
from attractors.script_options import capture_parser, config_dests
from hostile_tools import (ROOT, hostile_values, make_world, run_command, scripts, snapshot,
                           valid_value)

SCRIPTS = scripts()
TRAIN_SCRIPTS = [s for s in SCRIPTS if s.endswith("/train.py")]
_PARSERS = {}


def parser_of(script):
    if script not in _PARSERS:
        _PARSERS[script] = capture_parser(ROOT / script)
    return copy.deepcopy(_PARSERS[script])


def options_of(parser):
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("world"))


def test_scripts_are_found():
    expected = {"sine-generator/train.py", "sweep.py", "word-language-model/download.py",
                "figures/fig_h_lyapunov.py", "benchmarks/bench_sine.py",
                "analyse_attractors.py", "examples/your_own_model.py"}
    assert expected <= set(SCRIPTS) and len(SCRIPTS) >= 35


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_option_of_every_script_has_a_rule(script):
    parser = parser_of(script)
    assert type(parser).__name__ == "OneLineParser"
    for action in options_of(parser):
        rule_of(action)         # raises, naming the option, for one declared without a rule


def required_args(parser, world, skip=None):
    """Valid values for the positional arguments and the required options
    (all but ``skip``)."""
    args = []
    for action in options_of(parser):
        if action is skip or action.nargs == "?":
            continue
        if action.option_strings and not action.required:
            continue
        n = action.nargs if isinstance(action.nargs, int) else 1
        args += [action.option_strings[-1]] if action.option_strings else []
        args += [valid_value(rule_of(action), world)] * n
    return args


def probe(parser, argv):
    """Parse ``argv``: ``(namespace, None)`` or ``(None, the one-line message)``."""
    try:
        return parser.parse_args(argv), None
    except UsageError as e:
        message = str(e)
        assert "\n" not in message.strip(), message
        return None, message


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_option_refuses_hostile_values_in_one_line(script, world):
    parser = parser_of(script)
    before = snapshot(os.path.dirname(world["folder"]))
    checked = 0
    for action in options_of(parser):
        rule = rule_of(action)
        name = "/".join(action.option_strings) or action.dest
        if rule is None:           # a flag: it takes no value
            if action.option_strings:
                _, message = probe(parser, required_args(parser, world)
                                   + [f"{action.option_strings[-1]}=yes"])
                assert message and action.option_strings[-1] in message, (name, message)
            continue
        n = action.nargs if isinstance(action.nargs, int) else 1
        for value, expected in hostile_values(rule, world):
            values = [valid_value(rule, world)] * (n - 1) + [value]
            if action.option_strings:
                argv = required_args(parser, world) + [action.option_strings[-1], *values]
            else:
                argv = required_args(parser, world, skip=action) + values
                if action.nargs == "?":
                    argv = values
            namespace, message = probe(parser, argv)
            if expected == "range":
                try:
                    rule(value)
                    expected = "accept"
                except (argparse.ArgumentTypeError, ValueError, TypeError):
                    expected = "refuse"
            where = f"{script} {name} {value[:40]!r}"
            if expected == "refuse":
                assert message is not None, f"{where} was accepted"
                assert f"argument {name}" in message or f"argument {action.dest}" in message \
                    or action.metavar and f"argument {action.metavar}" in message, message
            else:
                assert message is None, f"{where}: {message}"
                got = getattr(namespace, action.dest)
                while isinstance(got, list):        # a list option, or one given repeatedly
                    got = got[-1]
                assert got == rule(value), where   # accepted as given, not changed
            checked += 1
        if action.option_strings and action.nargs not in ("?", "*", 0):
            _, message = probe(parser, required_args(parser, world) + [action.option_strings[-1]])
            assert message is not None, f"{script} {name} without a value was accepted"
    assert snapshot(os.path.dirname(world["folder"])) == before
    assert checked or not options_of(parser)


def refuses(rule, value):
    try:
        rule(value)
        return False
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return True


def test_a_parse_failure_is_one_line_exit_2_from_every_script(world):
    """Through each script's own entry point: its first option with a value,
    given a value no rule accepts ('nan'); a missing positional too."""
    for script in SCRIPTS:
        parser = parser_of(script)
        argv = required_args(parser, world) + ["--no_such_option"]
        for action in options_of(parser):
            rule = rule_of(action)
            if action.option_strings and rule is not None and refuses(rule, "nan") \
                    and action.nargs in (None, 1):
                argv = required_args(parser, world) + [action.option_strings[-1], "nan"]
                break
        line = run_command(script, *argv, cwd=world["folder"]).one_line(2)
        prog = parser.prog or os.path.basename(script)
        assert line.startswith(f"{prog}: error: "), (script, line)


# ------------------------------------------------------------------ config files
JSON_HOSTILE = ['"text"', "null", "true", "[]", "{}", "NaN", "Infinity", "-Infinity", "1e400",
                str(10 ** 30), "-1", "0", "1.5", "[[1]]", '"' + "x" * 5000 + '"', "9" * 5000]


@pytest.mark.parametrize("script", TRAIN_SCRIPTS)
def test_every_config_option_refuses_hostile_values_in_a_config_file(script, tmp_path):
    parser = parser_of(script)
    dests = config_dests(parser)
    assert dests, script
    path = tmp_path / "config.json"
    for action in options_of(parser):
        if action.dest not in dests:
            continue
        for text in JSON_HOSTILE:
            path.write_text('{"%s": %s}' % (action.dest, text))
            try:
                values = read_config_file(str(path), parser, dests)
            except UsageError as e:
                # the key is named, unless the file is not JSON Python reads
                assert "\n" not in str(e) and (action.dest in str(e)
                                               or "cannot be read" in str(e)), str(e)
                continue
            value = json.loads(text)
            rule = rule_of(action)
            assert not isinstance(value, (dict, str)) or rule is not None, (action.dest, text)
            if rule is None:
                assert isinstance(value, bool), (action.dest, text)
            else:   # what the rule accepts on the command line too
                items = value if isinstance(value, list) else [value]
                for item in items:
                    rule(item)
            assert action.dest in values


@pytest.mark.parametrize("script", TRAIN_SCRIPTS)
@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, '{"epochs": ' + "9" * 5000 + "}",
                                  "\xff\xfe{}", '{"epochs": 5, "epochs": "x"}', "[1, 2]", ""])
def test_a_hostile_config_file_is_refused_on_the_command_line_and_on_resume(script, text,
                                                                             tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    before = snapshot(tmp_path)
    run_command(script, "-c", path, "--folder", tmp_path / "new").one_line(2)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train.pyconfig.json").write_bytes(path.read_bytes())
    before = snapshot(tmp_path)
    line = run_command(script, "--resume", tmp_path / "run").one_line(2)
    assert "train.pyconfig.json" in line, line
    assert snapshot(tmp_path) == before and not (tmp_path / "new").exists()


# ------------------------------------------------------------------ where options apply
def applicable_cases(script):
    parser = parser_of(script)
    dests = config_dests(parser)
    for action in options_of(parser):
        applies = getattr(action, "applies", None)
        if applies is None or action.dest not in dests:
            continue
        rule = rule_of(action)
        if rule is None:
            value = None                        # a flag
        elif hasattr(rule, "choices"):
            value = [c for c in rule.choices if c != action.default][0]
        else:
            value = rule(valid_value(rule, {}))
            value = value + 1 if value == action.default else value
        yield action, value, applies.counterexample


def test_every_train_script_declares_where_options_apply():
    names = {a.dest for s in TRAIN_SCRIPTS for a, _, _ in applicable_cases(s)}
    assert {"K", "init", "stabilize", "seq_len_orbit", "std_orbit"} <= names


@pytest.mark.parametrize("script", TRAIN_SCRIPTS)
def test_an_option_that_does_not_apply_is_refused_or_warned_and_not_saved(script, tmp_path,
                                                                          capsys):
    for action, value, counterexample in applicable_cases(script):
        flag = action.option_strings[-1]
        other = []
        for key, v in counterexample.items():
            other += [f"--{key}", str(v)]
        argv = other + ([flag] if value is None else [flag, str(value)])
        parser = parser_of(script)
        if action.applies.refuse:
            with pytest.raises(UsageError, match=f"{flag} applies only"):
                parse_options(parser, sorted(config_dests(parser)), argv)
        else:   # a warning line, and the default is what the run keeps
            capsys.readouterr()
            config, _ = parse_options(parser, sorted(config_dests(parser)), argv)
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"warning: {flag} applies only" in err[0], err
            assert config[action.dest] == action.default
        # from a config file: one warning line, and the default is what is saved
        path = tmp_path / "c.json"
        path.write_text(json.dumps({**counterexample, action.dest: True if value is None
                                    else value}))
        parser = parser_of(script)
        capsys.readouterr()
        config, _ = parse_options(parser, sorted(config_dests(parser)), ["-c", str(path)])
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "warning" in err[0] and action.dest in err[0], err
        assert config[action.dest] == action.default
        # the value a config file holds by default (the original's files do) is silent
        path.write_text(json.dumps({**counterexample, action.dest: action.default}))
        parser = parser_of(script)
        parse_options(parser, sorted(config_dests(parser)), ["-c", str(path)])
        assert capsys.readouterr().err == ""


def test_a_task_specific_analysis_option_is_refused_for_another_task(tmp_path):
    parser = parser_of("analyse_attractors.py")
    assert getattr(parser._option_string_actions["--word_ids"], "tasks", None)
    parser = parser_of("analyse_smoothness.py")
    assert getattr(parser._option_string_actions["--data"], "tasks", None)
