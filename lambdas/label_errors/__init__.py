"""label_errors: label-error finding after training (state machine tasks)."""
