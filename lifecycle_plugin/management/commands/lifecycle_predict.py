"""Run the daily prediction by hand: fit the purchase and spend models on the store's
counted orders, score every customer, and print the fitted parameters or why not."""

from django.core.management.base import BaseCommand

from ...engine.predictions import describe_fit, run_predictions
from ...runtime import allow_writer, get_engine


class Command(BaseCommand):
    help = "Fit the prediction models on the store's orders and store every customer's predicted value."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=2000, help="Customers read per host query.")
        parser.add_argument(
            "--min-repeat-buyers", type=int, default=None,
            help="The data guard's threshold (default 200, or LIFECYCLE_PREDICT_MIN_REPEAT_BUYERS); "
                 "below about 200 the parameters are mostly noise.",
        )

    def handle(self, *args, chunk_size, min_repeat_buyers, **options):
        with allow_writer():
            report = run_predictions(get_engine(), chunk_size=chunk_size, repeat_buyers_needed=min_repeat_buyers)
        self.stdout.write(f"{report.customers} customers with counted orders, {report.repeat_buyers} repeat buyers.")
        for fit in report.fits:
            self.stdout.write(describe_fit(fit))
        self.stdout.write(f"Predicted {report.predicted} customers."
                          + (f" No predictions: {report.reason}" if report.reason else ""))
