"""Pulumi ComponentResources for packetwalk labs; they wire the engine's pure builders."""
