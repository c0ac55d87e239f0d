"""Ray for one command: the session, the watchdog that outlives a killed driver, the resource check."""
