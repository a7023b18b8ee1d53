# Flower reads this file (its default --conf, relative to the working directory) when started with
# `celery -A celery_app flower`. Options come from Settings; without FLOWER_PASSWORD Flower refuses to start.
# Command-line flags (e.g. --port, --address) still override these values.
from celery_app.flower_config import flower_options, protect_metrics
from upbit_core.settings import get_settings

globals().update(flower_options(get_settings()))
protect_metrics()
