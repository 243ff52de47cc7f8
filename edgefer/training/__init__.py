"""Training: the FER model (B0 sharp, B1 multi-resolution), the SR baseline (B2) and FSR-FER's G and D."""
