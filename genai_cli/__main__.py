"""`python -m genai_cli` is the same as the `genai` console script."""

from genai_cli.app import main

if __name__ == "__main__":
    main()
