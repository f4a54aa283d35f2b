"""The data layer: codecs (the contract, characters, MIDI), reading and caching corpora, labels,
training and validation splits, and batches for truncated BPTT. Imports only the top layer."""
