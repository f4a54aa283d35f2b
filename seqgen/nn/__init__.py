"""The model layer: the cell contract and stacking, the built-in fused cells, the generator
model and sampling from it. Imports the top and data layers."""
