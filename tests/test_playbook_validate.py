"""lab-validate's checks: requires values, templates and when expressions against stack facts."""

from __future__ import annotations

from pathlib import Path

from packetwalk.lab.config import LabConfig
from packetwalk.playbook.facts import offline_facts
from packetwalk.playbook.loader import load_module
from packetwalk.playbook.validate import requires_mismatch, validate_files, validate_module

DATA = Path(__file__).parent / "data" / "playbooks"


def stacks() -> dict[str, dict[str, object]]:
    return {
        "kind": offline_facts(LabConfig(stack="kind")),
        "kind-cilium": offline_facts(
            LabConfig(
                stack="kind-cilium", cni="cilium", kube_proxy_mode="none", cluster_name="pw-cilium"
            )
        ),
        "kind-calico": offline_facts(LabConfig(stack="kind-calico", cni="calico", workers=1)),
    }


def test_tour_is_valid_on_the_stacks_it_requires() -> None:
    problems, checked = validate_module(load_module(DATA / "01-tour.yaml"), stacks())
    assert problems == []
    assert checked == ["kind", "kind-calico"]


def test_bad_templates_and_when() -> None:
    path = DATA / "bad-templates.yaml"
    problems, checked = validate_module(load_module(path), stacks())
    assert checked == ["kind", "kind-cilium", "kind-calico"]
    assert [str(p) for p in problems] == [
        f"{path}:5:11: \"cni = 'calico'\" is not a valid expression: expected token ')', got '='",
        f"{path}:7:16: 'worker' is undefined, did you mean 'workers'? in"
        " 'docker exec {{ worker[0] }} ip route'",
        f"{path}:8:16: not allowed in a lab template: access to attribute '__class__' of 'str'"
        " object is unsafe. in \"echo {{ ''.__class__.__mro__ }}\"",
        f"{path}:9:16: 'later' is not registered yet here (a later task, or one skipped on this"
        " stack, registers it) in 'echo {{ later.stdout }}'",
    ]


def test_problems_only_some_stacks_have_name_them(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nsteps:\n  - name: s\n    tasks:\n"
        "      - shell: 'docker exec {{ workers[1] }} ip route'\n"
    )
    [report] = validate_files([module], stacks())
    assert [str(p) for p in report.problems] == [
        f"{module}:6:16: list object has no element 1 in 'docker exec {{{{ workers[1] }}}} ip"
        " route' [stack kind-calico]"
    ]


def test_steps_skipped_by_when_do_not_register(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nsteps:\n"
        "  - name: a\n    when: \"cni == 'cilium'\"\n    tasks:\n"
        "      - {shell: cilium status, register: st}\n"
        "  - name: b\n    tasks:\n      - shell: 'echo {{ st.stdout }}'\n"
    )
    [report] = validate_files([module], stacks())
    assert [p.message for p in report.problems] == [
        "'st' is not registered yet here (a later task, or one skipped on this stack, registers"
        " it) in 'echo {{ st.stdout }}' [stack kind, kind-calico]"
    ]


def test_requires_values_are_checked_and_mismatches_explained(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nrequires: {cni: [flanel]}\nsteps:\n"
        "  - name: a\n    tasks: [{shell: 'true'}]\n"
    )
    [report] = validate_files([module], stacks())
    assert [str(p) for p in report.problems] == [
        f"{module}:3:11: no stack satisfies requires (stacks: kind, kind-cilium, kind-calico)",
        f"{module}:3:18: unknown cni 'flanel', did you mean 'flannel'? (valid: kindnet, flannel,"
        " calico, cilium, dataplane-v2)",
    ]
    loaded = load_module(DATA / "01-tour.yaml")
    assert requires_mismatch(loaded.module.requires, stacks()["kind-cilium"]) == (
        "needs cni kindnet or calico, the stack has cilium"
    )


def test_until_needs_register_and_sees_it(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nsteps:\n  - name: a\n    tasks:\n"
        "      - {shell: 'true', until: 'r.rc == 0'}\n"
        "      - {shell: 'true', register: r, until: 'r.rc == 0'}\n"
    )
    [report] = validate_files([module], stacks())
    assert [p.message for p in report.problems] == [
        "until needs register: it names the result the expression tests"
    ]


def test_schema_errors_are_reported_per_file(tmp_path: Path) -> None:
    reports = validate_files([DATA / "bad-keys.yaml", DATA / "01-tour.yaml"], stacks())
    assert len(reports[0].problems) == 3 and reports[0].stacks == ()
    assert reports[1].problems == ()


def test_register_must_not_hide_facts_or_vars(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nvars: {ns: vote}\nsteps:\n  - name: a\n    tasks:\n"
        "      - {shell: 'true', register: pods}\n      - {shell: 'true', register: ns}\n"
    )
    [report] = validate_files([module], stacks())
    assert [f"{p.line}:{p.column} {p.message}" for p in report.problems] == [
        "7:35 register: pods hides the fact or var of that name; choose another name",
        "8:35 register: ns hides the fact or var of that name; choose another name",
    ]


def test_regexes_and_json_paths_compile(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nsteps:\n  - name: a\n    tasks:\n"
        "      - shell: 'true'\n        expect: {stdout: '(unclosed', stderr: '{{ cni }}('}\n"
        "      - shell: 'true'\n        expect: {json: {path: 'items[x]', matches: '[a-'}}\n"
    )
    [report] = validate_files([module], stacks())
    assert [f"{p.line}:{p.column} {p.message}" for p in report.problems] == [
        "7:26 stdout: invalid regex /(unclosed/: missing ), unterminated subpattern at position 0",
        "9:31 bad JSON path segment 'items[x]' in 'items[x]'",
        "9:52 matches: invalid regex /[a-/: unterminated character set at position 0",
    ]


def test_template_files_must_exist_and_read_known_names(tmp_path: Path) -> None:
    module = tmp_path / "01-files.yaml"
    module.write_text(
        "title: t\nsummary: s\nsteps:\n"
        "  - name: files\n"
        "    tasks:\n"
        "      - template: {src: tests/data/playbooks/files/nope.yaml}\n"
        "      - template: {src: tests/data/playbooks/files/typo.yaml}\n"
        "      - template: {src: tests/data/playbooks/files/client.yaml}\n"
    )
    problems, _ = validate_module(load_module(module), {"kind": stacks()["kind"]})
    assert [str(p) for p in problems] == [
        f"{module}:6:25: template tests/data/playbooks/files/nope.yaml: no such file in the"
        " project",
        f"{module}:7:25: 'lab_nmespace' is undefined, did you mean 'lab_namespace'? in"
        " 'tests/data/playbooks/files/typo.yaml'",
        f"{module}:8:25: 'port' is undefined in 'tests/data/playbooks/files/client.yaml'",
    ]
