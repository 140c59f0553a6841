"""FlowUI's Airflow provider: the only part of FlowUI that imports Airflow."""
