"""Models: named architectures in a registry, and networks written as a list of layers."""
