"""Model builders (float and QKeras DNN/CNN, the trigger-sized BDT), training, baselines and
the training workflow: the Keras 2 / QKeras front end's side of triginfer (extra ``keras2``)."""
