"""The built-in plugin of cells: vanilla, GRU and LSTM, registered through the hook any plugin
implements. The hook imports the cells when called, so loading the plugin (as ``seqgen
--help`` does, to collect commands) imports no torch: the pattern docs/plugins.md recommends."""

from seqgen.hookspecs import hookimpl


@hookimpl
def register_cells(register):
    from seqgen.nn.fused import GRU, LSTM, Vanilla

    register("vanilla", Vanilla,
             description="Elman RNN with tanh, relu or sigmoid activation (fused nn.RNN)")
    register("gru", GRU, description="Gated recurrent unit (fused nn.GRU)")
    register("lstm", LSTM, description="Long short-term memory (fused nn.LSTM)")
