"""The sweep files (*.yaml) and the driver that runs them: a whole sweep (pipeline), the probe and
sync-mlflow here, the concerns they compose in the sub-packages below."""
