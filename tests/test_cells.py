"""The cell contract, the built-in cells, and stacking of StepCells."""

import pytest
import torch
from torch import nn

import seqgen
from seqgen.config import ModelConfig
from seqgen.errors import PluginError, UsageError
from seqgen.nn.build import build_model
from seqgen.nn.cells import (
    LayerStack,
    build_stack,
    cells,
    detach_state,
    flatten_state,
    get_cell,
    unflatten_state,
)
from seqgen.plugins import parse_options

BUILTIN = [("vanilla", {}), ("vanilla", {"activation": "relu"}),
           ("vanilla", {"activation": "sigmoid"}), ("gru", {}), ("lstm", {})]


def test_builtin_cells_come_from_the_builtin_plugin():
    registry = cells()
    for name in ("vanilla", "gru", "lstm"):
        assert registry[name].plugin == "seqgen.nn.builtin"
        assert registry[name].distribution == "seqgen"
        assert registry[name].version == seqgen.__version__
    assert registry["vanilla"].options == {"activation": "tanh", "init": "default"}


@pytest.mark.parametrize(("name", "options"), BUILTIN)
def test_stepping_matches_the_fused_sequence_path(name, options):
    torch.manual_seed(0)
    stack = build_stack(get_cell(name).cls, 5, 7, 2, 0.0, options)
    x = torch.randn(3, 6, 5)
    y_seq, state_seq = stack(x, stack.init_state(3))
    state = stack.init_state(3)
    steps = []
    for x_t in x.unbind(1):
        y_t, state = stack.step(x_t, state)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps, 1), y_seq, rtol=1e-5, atol=1e-6)
    for a, b in zip(flatten_state(state)[0], flatten_state(state_seq)[0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_vanilla_activation_is_applied(activation):
    torch.manual_seed(0)
    stack = build_stack(get_cell("vanilla").cls, 4, 4, 1, 0.0, {"activation": activation})
    w_ih, w_hh, b_ih, b_hh = stack.layer_weights(0)
    x, h = torch.randn(2, 4), torch.randn(2, 4)
    act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
    expected = act(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
    y, _ = stack.step(x, (h,))
    torch.testing.assert_close(y, expected)


def test_identity_init_sets_recurrent_matrix_to_identity_and_biases_to_zero():
    stack = build_stack(get_cell("vanilla").cls, 3, 6, 2, 0.0,
                        {"activation": "relu", "init": "identity"})
    for layer in range(2):
        _, w_hh, b_ih, b_hh = stack.layer_weights(layer)
        assert torch.equal(w_hh, torch.eye(6))
        assert not b_ih.any() and not b_hh.any()


def test_states_are_batch_first_for_every_builtin():
    for name, options in BUILTIN:
        stack = build_stack(get_cell(name).cls, 3, 4, 2, 0.0, options)
        for tensor in flatten_state(stack.init_state(5))[0]:
            assert tensor.shape[0] == 5


class Elman(seqgen.StepCell):
    """A hand-written test cell: seqgen must stack, unroll and step it."""

    def __init__(self, input_size, hidden_size, scale: float = 1.0):
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)
        self.scale = scale

    def init_state(self, batch_size, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def step(self, x, h):
        h = torch.tanh(self.scale * (self.ih(x) + self.hh(h)))
        return h, h


class TestPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_cells(register):
        register("test-elman", Elman, description="test cell")


def test_a_step_cell_registered_by_a_plugin_is_stacked_and_unrolled(register_plugin):
    register_plugin(TestPlugin, "test-plugin")
    spec = get_cell("test-elman")
    assert spec.plugin == "test-plugin" and spec.options == {"scale": 1.0}
    model = build_model(ModelConfig(vocab_size=11, cell="test-elman", hidden_size=8,
                                    num_layers=3, cell_options={"scale": 0.5}))
    assert isinstance(model.stack, LayerStack) and len(model.stack.layers) == 3
    assert model.stack.layers[1].scale == 0.5
    tokens = torch.randint(0, 11, (2, 5))
    logits, state = model(tokens, model.init_state(2))
    assert logits.shape == (2, 5, 11) and len(state) == 3


def test_two_plugins_registering_one_name_is_an_error(register_plugin):
    class Clash:
        @staticmethod
        @seqgen.hookimpl
        def register_cells(register):
            register("lstm", Elman)

    register_plugin(Clash, "clash")
    with pytest.raises(seqgen.SeqgenError, match="registered twice"):
        cells()


def test_a_cell_with_a_wrong_output_shape_fails_at_construction(register_plugin):
    class Wide(Elman):
        def step(self, x, h):
            return torch.cat([h, h], 1), h

    class Plugin:
        @staticmethod
        @seqgen.hookimpl
        def register_cells(register):
            register("wide", Wide)

    register_plugin(Plugin, "wide-plugin")
    message = (r"the cell 'wide' of wide-plugin unknown breaks the cell contract: forward "
               r"returned outputs of shape \(3, 2, 16\), expected \[batch, time")
    with pytest.raises(PluginError, match=message):
        build_model(ModelConfig(vocab_size=5, cell="wide", hidden_size=8, num_layers=1))


def test_a_state_that_is_not_batch_first_fails_at_construction(register_plugin):
    class TimeFirst(Elman):
        def init_state(self, batch_size, device=None, dtype=None):
            return torch.zeros(1, batch_size, self.hidden_size)

    class Plugin:
        @staticmethod
        @seqgen.hookimpl
        def register_cells(register):
            register("time-first", TimeFirst)

    register_plugin(Plugin, "time-first-plugin")
    with pytest.raises(PluginError, match="breaks the cell contract: init_state .*not batch first"):
        build_model(ModelConfig(vocab_size=5, cell="time-first", hidden_size=8, num_layers=1))


def test_unknown_cell_lists_the_available_ones():
    with pytest.raises(UsageError, match="unknown cell 'nope'; available cells: .*lstm.*vanilla"):
        get_cell("nope")


def test_unknown_option_lists_the_cell_options():
    with pytest.raises(UsageError, match="no option 'act'.*activation=tanh, init=default"):
        build_model(ModelConfig(vocab_size=5, cell="vanilla", cell_options={"act": "relu"}))


def test_bad_option_value_is_a_usage_error():
    with pytest.raises(UsageError, match="activation must be one of"):
        build_model(ModelConfig(vocab_size=5, cell="vanilla", cell_options={"activation": "x"}))


def test_options_are_parsed_to_int_float_bool_or_str():
    assert parse_options(["a=3", "b=0.5", "c=true", "d=False", "e=relu", "f=1e-3"]) == {
        "a": 3, "b": 0.5, "c": True, "d": False, "e": "relu", "f": 1e-3}
    with pytest.raises(UsageError, match="bad --codec-opt 'x': expected key=value"):
        parse_options(["x"], "--codec-opt")


def test_state_helpers_keep_structure():
    a = torch.ones(2, 3, requires_grad=True) * 2
    state = (a, (a + 1, a + 2))
    tensors, spec = flatten_state(state)
    assert len(tensors) == 3 and spec == ["t", ["t", "t"]]
    rebuilt = unflatten_state(tensors, spec)
    assert torch.equal(rebuilt[1][1], a + 2)
    assert all(not t.requires_grad for t in flatten_state(detach_state(state))[0])
