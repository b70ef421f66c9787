"""What trained models learned: representational similarity, neuron Shapley, attributions."""
