"""PyTorch models: the FER backbone and head, G, D, the image-SR baseline, and their compositions."""
