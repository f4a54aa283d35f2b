"""The media layer: the terminal piano roll, PNG pictures, audio through FluidSynth, and music
and text statistics. Imports the top and data layers."""
