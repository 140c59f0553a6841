"""The platform server: FastAPI app, services, database, auth and the Airflow REST client."""
