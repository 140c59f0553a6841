"""What the routers do with the database, the root and Airflow, apart from HTTP."""
